/**
 * Fills tickerq's job table with many future jobs in one SQL statement (W6): one job is added
 * through the API as a template, then copied N times with generate_series or a recursive CTE,
 * so a million rows take seconds instead of minutes. Columns are found by introspection so
 * this follows the store's schema as it changes.
 */
import { pgQuery } from "../db.js";
import { PG_SCHEMA, SQLITE_FILE } from "./tickerq.js";

const TIME_COLUMN = /^execution_?time$/i;

interface Column {
  name: string;
  type: string;
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The SELECT list that copies the template row, giving each copy a new id and a later due time. */
function copyList(columns: Column[], sqlite: boolean): string {
  return columns
    .map(({ name, type }) => {
      const col = `t.${quote(name)}`;
      if (name === "id") return sqlite || /char|text/i.test(type) ? `${col} || '-' || g` : "gen_random_uuid()";
      if (TIME_COLUMN.test(name)) {
        if (/int|numeric|real/i.test(type)) return `${col} + g`;
        if (!sqlite && /timestamp/i.test(type)) return `${col} + g * interval '1 millisecond'`;
      }
      return col;
    })
    .join(", ");
}

export async function seedPostgres(templateId: string, copies: number): Promise<void> {
  const tables = await pgQuery(
    `select table_name from information_schema.columns
     where table_schema = $1 and column_name = 'id'
       and table_name in (select table_name from information_schema.columns where table_schema = $1 and column_name ~* '^execution_?time$')`,
    [PG_SCHEMA],
  );
  for (const { table_name: table } of tables.rows as Array<{ table_name: string }>) {
    const qualified = `${quote(PG_SCHEMA)}.${quote(table)}`;
    const found = await pgQuery(`select 1 from ${qualified} where id::text = $1`, [templateId]);
    if (found.rowCount === 0) continue;
    const columns = (
      await pgQuery(
        `select column_name as name, data_type as type from information_schema.columns
         where table_schema = $1 and table_name = $2 and is_generated = 'NEVER' order by ordinal_position`,
        [PG_SCHEMA, table],
      )
    ).rows as Column[];
    await pgQuery(
      `insert into ${qualified} (${columns.map((c) => quote(c.name)).join(", ")})
       select ${copyList(columns, false)} from ${qualified} t, generate_series(1, $2::int) g where t.id::text = $1`,
      [templateId, copies],
    );
    await pgQuery(`analyze ${qualified}`);
    return;
  }
  throw new Error(`W6: no job table in schema ${PG_SCHEMA} holds the template job ${templateId}`);
}

export async function seedSqlite(templateId: string, copies: number): Promise<void> {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(SQLITE_FILE);
  try {
    db.pragma("busy_timeout = 10000");
    const tables = db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>;
    for (const { name: table } of tables) {
      const columns = (
        db.prepare(`pragma table_info(${quote(table)})`).all() as Array<{ name: string; type: string }>
      ).map((c) => ({ name: c.name, type: c.type }));
      if (!columns.some((c) => c.name === "id") || !columns.some((c) => TIME_COLUMN.test(c.name))) continue;
      if (!db.prepare(`select 1 from ${quote(table)} where id = ?`).get(templateId)) continue;
      db.prepare(
        `with recursive seq(g) as (select 1 union all select g + 1 from seq where g < ?)
         insert into ${quote(table)} (${columns.map((c) => quote(c.name)).join(", ")})
         select ${copyList(columns, true)} from ${quote(table)} t, seq where t.id = ?`,
      ).run(copies, templateId);
      db.exec(`analyze ${quote(table)}`);
      return;
    }
    throw new Error(`W6: no job table in ${SQLITE_FILE} holds the template job ${templateId}`);
  } finally {
    db.close();
  }
}
