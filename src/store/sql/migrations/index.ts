/** The ordered list of schema migrations. Append only: a shipped migration never changes. */

import type { Kysely } from "kysely";
import type { ColumnTypes, DialectKind } from "../dialect.js";
import type { TableNames } from "../schema.js";
import { initialSchema } from "./001-initial-schema.js";
import { partialIndexes } from "./002-partial-indexes.js";
import { leaseTokens } from "./003-lease-tokens.js";
import { jobMetadata } from "./004-job-metadata.js";
import { aggregates } from "./005-aggregates.js";
import { search } from "./006-search.js";
import { searchTable } from "./007-search-table.js";
import { rollupBins } from "./008-rollup-bins.js";
import { searchBacklog } from "./009-search-backlog.js";

export interface MigrationEnv {
  kind: DialectKind;
  t: TableNames;
  /** Prefixes index names, which SQLite and PostgreSQL scope to the database or schema, not the table. */
  prefix: string;
  types: ColumnTypes;
  /** A note for the operator (a step skipped for want of a privilege); the store's logger. */
  warn?: (message: string) => void;
}

export interface Migration {
  version: number;
  name: string;
  up(db: Kysely<any>, env: MigrationEnv): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  initialSchema,
  partialIndexes,
  leaseTokens,
  jobMetadata,
  aggregates,
  search,
  searchTable,
  rollupBins,
  searchBacklog,
];

export const LATEST_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);
