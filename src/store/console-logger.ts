/** The logger of a store that no node has given its own (Store.setLogger): console, adapted as the engine adapts it. */

import { Log } from "../log.js";
import type { StoreLogger } from "./contract.js";

export const consoleStoreLogger: StoreLogger = new Log(console);
