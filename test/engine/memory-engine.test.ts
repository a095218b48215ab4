import { describeEngineContract } from "../contract/engine-contract.js";
import { memoryStore } from "../../src/index.js";

describeEngineContract("memory", async () => ({ store: memoryStore(), cleanup: async () => {} }));
