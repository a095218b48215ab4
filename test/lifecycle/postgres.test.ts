/** The lifecycle edges on PostgreSQL: a fresh schema per test. */

import { describe, it } from "vitest";
import { checkPostgres } from "../helpers/databases.js";
import { describeLifecycle } from "./lifecycle.js";

if ((await checkPostgres()).available) describeLifecycle("postgres");
else
  describe.skip("lifecycle on postgres (server unreachable; set TICKERQ_PG_URL)", () =>
    it("needs PostgreSQL", () => {}));
