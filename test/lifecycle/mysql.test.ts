/** The lifecycle edges on MySQL/MariaDB: a fresh database per test. */

import { describe, it } from "vitest";
import { checkMysql } from "../helpers/databases.js";
import { describeLifecycle } from "./lifecycle.js";

if ((await checkMysql()).available) describeLifecycle("mysql");
else describe.skip("lifecycle on mysql (server unreachable; set TICKERQ_MYSQL_URL)", () => it("needs MySQL", () => {}));
