/** The lifecycle edges on the memory store. */

import { describeLifecycle } from "./lifecycle.js";

describeLifecycle("memory");
