/** Checks how W9 of the bench counts and classes the statements of a MariaDB general log. */
import { describe, expect, it } from "vitest";
import { countGeneralLog, statementKind } from "../bench/workloads/w9-idle-sql.js";

describe("bench W9 general log", () => {
  it("classes a statement by its verb and first table", () => {
    expect(statementKind("select `paused` from `tickerq_nodes` where `node_id` = ?")).toBe("select tickerq_nodes");
    expect(statementKind("insert into `tq`.`tickerq_nodes` (`node_id`) values (?)")).toBe("insert tickerq_nodes");
    expect(statementKind("(select * from `tickerq_jobs` where `priority_rank` = ?) union all (select 1)")).toBe(
      "select tickerq_jobs",
    );
    expect(statementKind("update tickerq_jobs set status = 'Queued'")).toBe("update tickerq_jobs");
    expect(statementKind("  COMMIT")).toBe("commit");
  });

  it("counts Query and Execute lines, not continuation lines or other commands", () => {
    const log = [
      "/usr/sbin/mariadbd, Version: 10.11.19-MariaDB-0+deb12u1 (Debian 12). started with:",
      "Tcp port: 41231  Unix socket: /tmp/x/mysqld.sock",
      "Time\t\t    Id Command\tArgument",
      "251201  1:55:00\t    12 Query\tselect `paused` from `tickerq_nodes` where `node_id` = 'a'",
      "\t\t    12 Query\tbegin",
      "\t\t    13 Execute\tinsert into `tickerq_nodes` (`node_id`) values ('a')",
      "from a continuation line",
      "\t\t    13 Connect\troot@localhost on tq using TCP/IP",
      "\t\t    12 Query\tcommit",
      "\t\t     5 Query\tshow global status like 'Questions'",
    ].join("\n");
    expect(Object.fromEntries(countGeneralLog(log, [5]))).toEqual({
      "select tickerq_nodes": 1,
      begin: 1,
      "insert tickerq_nodes": 1,
      commit: 1,
    });
  });
});
