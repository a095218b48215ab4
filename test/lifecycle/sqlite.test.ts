/** The lifecycle edges on the sqlite store. */

import { describeLifecycle } from "./lifecycle.js";

describeLifecycle("sqlite");
