import { describeEngineContract } from "../contract/engine-contract.js";
import { describeEngineFaults } from "../contract/engine-faults.js";
import { describeEngineMiddleware } from "../contract/engine-middleware.js";
import { memoryStore } from "../../src/index.js";

describeEngineContract("memory", async () => ({ store: memoryStore(), cleanup: async () => {} }));
describeEngineFaults("memory", async () => ({ store: memoryStore(), cleanup: async () => {} }));
describeEngineMiddleware("memory", async () => ({ store: memoryStore(), cleanup: async () => {} }));
