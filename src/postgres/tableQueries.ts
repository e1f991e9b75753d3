import { quoteIdent, quoteLiteral } from "./identifiers";

/**
 * psql scripts for browsing a database (run as `postgres` through psqlAsPostgresCommand,
 * script on stdin). They print a short head of `@@` marker lines and metadata, then `@@ROWS`,
 * then the rows themselves as COPY output, so a reader can check the head before any row
 * arrives. Marker lines never contain a tab, metadata lines always do (COPY text format).
 *
 * Browsing only reads: every session is set to read-only transactions.
 */

/** Tables up to this size are counted exactly when their statistics are too small to trust. */
const EXACT_COUNT_MAX_BYTES = 16 * 1024 * 1024;
/** From this many estimated rows on, `reltuples` is reported instead of counting. */
const ESTIMATE_FROM_ROWS = 10_000;

export interface TableDataQuery {
  dbName: string;
  schema: string;
  table: string;
  /** Already checked to be an identifier; the script checks it is a column. */
  orderBy?: string;
  descending: boolean;
  /** Rows to print; absent = all of them. */
  limit?: number;
  offset: number;
  /**
   * `text`: head with columns and an estimated total, rows in COPY text format.
   * `csv`: no column metadata; rows as COPY CSV with a header line (for downloads).
   */
  format: "text" | "csv";
}

function connectOrReportMissing(dbName: string): string {
  return `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(dbName)} AND datallowconn) AS zsl_db_exists \\gset
\\if :zsl_db_exists
\\else
\\echo @@MISSING database
\\quit
\\endif
\\c ${dbName}
\\encoding UTF8
SET standard_conforming_strings = on;
SET default_transaction_read_only = on;`;
}

/**
 * The tables and views of one schema, one name per line after `@@ROWS`. The catalog query
 * matches information_schema.tables (tables, partitioned tables, views, foreign tables) but
 * costs a fraction of it.
 */
function tablesOfSchema(schema: string): string {
  // No \\quit: the same text also runs inside a kept psql session (see psqlSession.ts).
  return `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ${quoteLiteral(schema)}) AS zsl_schema_exists \\gset
\\if :zsl_schema_exists
\\echo @@ROWS
COPY (SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${quoteLiteral(schema)} AND c.relkind IN ('r', 'p', 'v', 'f') ORDER BY c.relname) TO STDOUT;
\\else
\\echo @@MISSING schema
\\endif
`;
}

/**
 * psql script for a session already connected to the database: the hot path, one connection.
 * Run with psqlAsPostgresCommand(dbName); when that cannot connect, tablesListSql tells why.
 */
export function tablesListInDatabaseSql(schema = "public"): string {
  return `\\encoding UTF8
SET default_transaction_read_only = on;
${tablesOfSchema(schema)}`;
}

/** psql script from the `postgres` database: reports a missing database, else lists the tables. */
export function tablesListSql(dbName: string, schema = "public"): string {
  return `${connectOrReportMissing(dbName)}
${tablesOfSchema(schema)}`;
}

/**
 * psql script for one page of a table:
 *
 *   @@RESULT backend=PID-HASH                  (the session, for cancelBackendSql)
 *   @@MISSING database|table|column|ordering   (then nothing else)
 *   @@COLUMNS                                  (text format only)
 *   name<TAB>type<TAB>base type oid            one line per column, COPY text format
 *   @@RESULT total=N                           (text format only; empty when unknown)
 *   @@ROWS
 *   ...rows...
 *
 * Rows are ordered by `orderBy` when given, then by the primary key (or the physical row
 * position, `ctid`, for tables without one) so that pages are stable even across ties.
 * In text format one row more than `limit` is printed, which tells the reader more exist.
 */
export function tableDataSql(query: TableDataQuery): string {
  const relation = `${quoteIdent(query.schema)}.${quoteIdent(query.table)}`;
  const rel = `${quoteLiteral(relation)}::regclass`;
  const dir = query.descending ? "DESC" : "ASC";
  const first = query.orderBy === undefined ? "NULL" : quoteLiteral(`${quoteIdent(query.orderBy)} ${dir}`);
  const rowsToPrint = query.limit === undefined ? undefined : query.format === "text" ? query.limit + 1 : query.limit;
  const page = `${rowsToPrint === undefined ? "" : ` LIMIT ${rowsToPrint}`}${query.offset > 0 ? ` OFFSET ${query.offset}` : ""}`;
  const copyOptions = query.format === "csv" ? " WITH (FORMAT csv, HEADER)" : "";

  const parts = [
    connectOrReportMissing(query.dbName),
    // Names this session so that a reader who gives up can cancel its query (cancelBackendSql).
    `SELECT format('%s-%s', pg_backend_pid(), md5(backend_start::text)) AS zsl_backend FROM pg_stat_activity WHERE pid = pg_backend_pid() \\gset
\\echo @@RESULT backend=:zsl_backend`,
    `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = ${quoteLiteral(query.schema)} AND c.relname = ${quoteLiteral(query.table)}
                  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')) AS zsl_table_exists \\gset
\\if :zsl_table_exists
\\else
\\echo @@MISSING table
\\quit
\\endif`,
  ];

  if (query.orderBy !== undefined) {
    parts.push(`SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${rel} AND attname = ${quoteLiteral(query.orderBy)}
                AND attnum > 0 AND NOT attisdropped) AS zsl_column_exists \\gset
\\if :zsl_column_exists
\\else
\\echo @@MISSING column
\\quit
\\endif`);
  }

  // The tie-breaker: primary key columns, else ctid (with tableoid where child tables share
  // ctids). Views and foreign tables have neither; they are read in PostgreSQL's order.
  parts.push(`WITH pk AS (
  SELECT string_agg(quote_ident(a.attname) || ' ${dir}', ', ' ORDER BY k.ord) AS cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = ${rel} AND i.indisprimary AND k.ord <= i.indnkeyatts
), identity AS (
  SELECT coalesce((SELECT cols FROM pk),
                  CASE WHEN c.relkind = 'p' OR c.relhassubclass THEN 'tableoid ${dir}, ctid ${dir}'
                       WHEN c.relkind IN ('r', 'm') THEN 'ctid ${dir}' END) AS cols
    FROM pg_class c WHERE c.oid = ${rel}
), ordering AS (
  SELECT concat_ws(', ', ${first}::text, nullif(cols, ${first}::text)) AS cols FROM identity
)
SELECT format('SELECT %s FROM %s%s',
              (SELECT coalesce(string_agg(quote_ident(attname), ', ' ORDER BY attnum), '')
                 FROM pg_attribute WHERE attrelid = ${rel} AND attnum > 0 AND NOT attisdropped),
              ${quoteLiteral(relation)},
              (SELECT coalesce(' ORDER BY ' || nullif(cols, ''), '') FROM ordering)) AS zsl_select \\gset`);

  if (query.orderBy !== undefined) {
    // Types without a default sort order (json, point, ...) fail at planning; find out now,
    // while the caller can still be told so, rather than after the rows have begun.
    parts.push(`\\set ON_ERROR_STOP 0
\\o /dev/null
SELECT 'EXPLAIN ' || :'zsl_select' \\gexec
\\o
\\if :ERROR
\\echo @@MISSING ordering
\\quit
\\endif
\\set ON_ERROR_STOP 1`);
  }

  if (query.format === "text") {
    parts.push(`\\echo @@COLUMNS
COPY (SELECT a.attname, format_type(a.atttypid, a.atttypmod),
             (WITH RECURSIVE chain(oid, base) AS (
                SELECT t.oid, t.typbasetype FROM pg_type t WHERE t.oid = a.atttypid
                UNION ALL
                SELECT t.oid, t.typbasetype FROM chain JOIN pg_type t ON t.oid = chain.base)
              SELECT oid FROM chain WHERE base = 0)
        FROM pg_attribute a
       WHERE a.attrelid = ${rel} AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum) TO STDOUT;`);
    parts.push(estimatedTotalSql(rel, relation));
  }

  parts.push(`\\echo @@ROWS
SELECT format('COPY (%s%s) TO STDOUT%s', :'zsl_select', ${quoteLiteral(page)}, ${quoteLiteral(copyOptions)}) \\gexec
`);
  return parts.join("\n");
}

/**
 * `@@RESULT total=N`: the catalog's estimate (reltuples) for large tables; an exact count
 * when that is cheap (few rows, or never analysed but small on disk); a 1 % block sample
 * for large tables without statistics; empty for views and foreign tables, where counting
 * could run an arbitrarily expensive query.
 */
function estimatedTotalSql(rel: string, relation: string): string {
  return `WITH RECURSIVE tree(oid) AS (
  SELECT ${rel}::oid
  UNION ALL
  SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid
)
SELECT bool_or(c.oid = ${rel} AND c.relkind IN ('v', 'f')) AS zsl_no_stats,
       coalesce(sum(c.reltuples) FILTER (WHERE c.reltuples > 0 AND c.relkind IN ('r', 'm')), 0)::bigint AS zsl_reltuples,
       coalesce(sum(pg_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'm')), 0) AS zsl_bytes
  FROM tree JOIN pg_class c ON c.oid = tree.oid \\gset
\\if :zsl_no_stats
\\echo @@RESULT total=
\\else
SELECT :zsl_reltuples >= ${ESTIMATE_FROM_ROWS} AS zsl_use_stats, :zsl_bytes <= ${EXACT_COUNT_MAX_BYTES} AS zsl_count_all \\gset
\\if :zsl_use_stats
\\echo @@RESULT total=:zsl_reltuples
\\elif :zsl_count_all
SELECT count(*) AS zsl_total FROM ${relation} \\gset
\\echo @@RESULT total=:zsl_total
\\else
SELECT count(*) * 100 AS zsl_total FROM ${relation} TABLESAMPLE SYSTEM (1) \\gset
\\echo @@RESULT total=:zsl_total
\\endif
\\endif`;
}

/** A session as printed in `@@RESULT backend=`: its pid and a hash of its start time. */
const BACKEND_ID = /^(\d{1,10})-([0-9a-f]{32})$/;

export function isBackendId(value: string): boolean {
  return BACKEND_ID.test(value);
}

/**
 * psql script: cancels the running query of one browsing session. sshd does not pass
 * signals on and a remote psql waiting for its first row never notices a closed channel,
 * so without this a given-up query on a big table would run on. The start time guards
 * against the pid having been reused by another session since.
 */
export function cancelBackendSql(backendId: string): string {
  const match = BACKEND_ID.exec(backendId);
  if (!match) throw new Error("not a backend id");
  return `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid = ${match[1]} AND md5(backend_start::text) = ${quoteLiteral(match[2] ?? "")};
`;
}
