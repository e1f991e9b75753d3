import { quoteLiteral } from "./identifiers";

/**
 * psql scripts for browsing a database, run in it with the rights of its owner (see
 * psqlAsDatabaseOwnerCommand), script on stdin. They print a short head of `@@` marker lines
 * and metadata, then `@@ROWS`, then the rows themselves as COPY output, so a reader can check
 * the head before any row arrives. Marker lines never contain a tab, metadata lines always do
 * (COPY text format).
 *
 * Names (schema, table, column) may be anything PostgreSQL allows. They never appear as text
 * in a script: psql would read `:name` or a backslash in them as its own syntax. Each travels
 * hex-encoded (see nameSql) and is quoted by the server (`format('%I')`) where SQL is built.
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
  /** Any column name; the script checks it is a column. */
  orderBy?: string;
  descending: boolean;
  /** Rows to print; absent = all of them. */
  limit?: number;
  offset: number;
  /**
   * Keyset paging: the primary key of the last row already read, one PostgreSQL text value per
   * key column in key order; only rows after it (in the page's direction) are read. Only
   * without `orderBy` (the page is then in key order) and with `offset` 0.
   */
  after?: string[];
  /**
   * `text`: head with columns and an estimated total, rows in COPY text format.
   * `csv`: no column metadata; rows as COPY CSV with a header line (for downloads).
   */
  format: "text" | "csv";
}

/** Any text as an SQL expression made of hex digits only (see nameSql). */
function textSql(value: string): string {
  return `pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(value, "utf8").toString("hex")}', 'hex'), 'UTF8')`;
}

/** A name as an SQL expression of type `name` made of hex digits only: inert to psql and SQL alike. */
export function nameSql(value: string): string {
  const hex = Buffer.from(value, "utf8").toString("hex");
  return `pg_catalog.convert_from(pg_catalog.decode('${hex}', 'hex'), 'UTF8')::pg_catalog.name`;
}

/**
 * Every browsing script starts here, also inside a kept session: the connection was opened with
 * the same settings (and client encoding UTF8); stating them again costs one round trip.
 */
const SESSION_SETUP = `SET search_path = pg_catalog, pg_temp \\; SET standard_conforming_strings = on \\; SET default_transaction_read_only = on;
\\pset format unaligned
\\pset tuples_only on`;

/**
 * The tables and views of one schema, one name per line after `@@ROWS`. The catalog query
 * matches information_schema.tables (tables, partitioned tables, views, foreign tables) but
 * costs a fraction of it. No `\\quit`: it also runs inside a kept psql session (psqlSession.ts).
 */
export function tablesListInDatabaseSql(schema = "public"): string {
  const nsp = nameSql(schema);
  return `${SESSION_SETUP}
SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) ${nsp}) AS zsl_schema_exists \\gset
\\if :zsl_schema_exists
\\echo @@ROWS
COPY (SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      WHERE n.nspname OPERATOR(pg_catalog.=) ${nsp} AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,f}'::pg_catalog."char"[])
      ORDER BY c.relname) TO STDOUT;
\\else
\\echo @@MISSING schema
\\endif
`;
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
  const dir = query.descending ? "DESC" : "ASC";
  const first = query.orderBy === undefined ? "NULL::pg_catalog.text" : `pg_catalog.format('%I ${dir}', ${nameSql(query.orderBy)})`;
  const rowsToPrint = query.limit === undefined ? undefined : query.format === "text" ? query.limit + 1 : query.limit;
  const page = `${rowsToPrint === undefined ? "" : ` LIMIT ${rowsToPrint}`}${query.offset > 0 ? ` OFFSET ${query.offset}` : ""}`;
  const copyOptions = query.format === "csv" ? " WITH (FORMAT csv, HEADER)" : "";
  // The relation's oid, from our own catalog query below: a number, safe to interpolate.
  const rel = ":zsl_rel::pg_catalog.oid";

  const parts = [
    SESSION_SETUP,
    // Names this session so that a reader who gives up can cancel its query (cancelBackendSql);
    // finds the relation, and whether the owner may read it, in the same round trip.
    `SELECT pg_catalog.format('%s-%s-%s', coalesce(pg_catalog.inet_server_port(), 0), a.pid, pg_catalog.md5(a.backend_start::pg_catalog.text)) AS zsl_backend,
       coalesce(c.oid, 0) AS zsl_rel, c.oid IS NOT NULL AS zsl_table_exists,
       coalesce(pg_catalog.has_table_privilege(c.oid, 'SELECT'), false) AS zsl_may_read,
       pg_catalog.format('%I.%I', ${nameSql(query.schema)}, ${nameSql(query.table)}) AS zsl_relation
  FROM pg_catalog.pg_stat_activity a
  LEFT JOIN (pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace)
         ON n.nspname OPERATOR(pg_catalog.=) ${nameSql(query.schema)} AND c.relname OPERATOR(pg_catalog.=) ${nameSql(query.table)}
        AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p,v,m,f}'::pg_catalog."char"[])
 WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() \\gset
\\echo @@RESULT backend=:zsl_backend
\\if :zsl_table_exists
\\else
\\echo @@MISSING table
\\quit
\\endif
\\if :zsl_may_read
\\else
\\echo @@MISSING read-privilege
\\quit
\\endif`,
  ];

  if (query.orderBy !== undefined) {
    parts.push(`SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) ${rel} AND attname OPERATOR(pg_catalog.=) ${nameSql(query.orderBy)}
                AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped) AS zsl_column_exists \\gset
\\if :zsl_column_exists
\\else
\\echo @@MISSING column
\\quit
\\endif`);
  }

  if (query.after !== undefined) {
    // The key's values arrive as text and are cast to the key columns' types by the server;
    // a count that does not fit is reported here, values that do not parse by the EXPLAIN below.
    parts.push(`SELECT coalesce(pg_catalog.max(i.indnkeyatts), 0) AS zsl_key_columns FROM pg_catalog.pg_index i
 WHERE i.indrelid OPERATOR(pg_catalog.=) ${rel} AND i.indisprimary \\gset
SELECT :zsl_key_columns OPERATOR(pg_catalog.=) 0 AS zsl_no_key, :zsl_key_columns OPERATOR(pg_catalog.<>) ${query.after.length} AS zsl_key_misfit \\gset
\\if :zsl_no_key
\\echo @@MISSING key
\\quit
\\endif
\\if :zsl_key_misfit
\\echo @@MISSING after
\\quit
\\endif`);
  }
  const afterValues = query.after === undefined ? "NULL::pg_catalog.text[]" : `ARRAY[${query.after.map(textSql).join(", ") || "NULL"}]::pg_catalog.text[]`;
  const afterOperator = query.descending ? "<" : ">";

  // The tie-breaker: primary key columns, else ctid (with tableoid where child tables share
  // ctids). Views and foreign tables have neither; they are read in PostgreSQL's order.
  // With `after`, only rows past that key: (k1, k2) > ('v1'::type1, 'v2'::type2), which the
  // primary key's index answers directly, however far into the table.
  parts.push(`WITH pk AS (
  SELECT pg_catalog.string_agg(pg_catalog.format('%I ${dir}', a.attname), ', ' ORDER BY k.ord) AS cols,
         pg_catalog.format(' WHERE (%s) OPERATOR(pg_catalog.${afterOperator}) (%s)',
           pg_catalog.string_agg(pg_catalog.format('%I', a.attname), ', ' ORDER BY k.ord),
           pg_catalog.string_agg(pg_catalog.format('%L::%s', (${afterValues})[k.ord], pg_catalog.format_type(a.atttypid, NULL)), ', ' ORDER BY k.ord)) AS after_key
    FROM pg_catalog.pg_index i
    CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) k.attnum
   WHERE i.indrelid OPERATOR(pg_catalog.=) ${rel} AND i.indisprimary AND k.ord OPERATOR(pg_catalog.<=) i.indnkeyatts
), identity AS (
  SELECT coalesce((SELECT cols FROM pk),
                  CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'p' OR c.relhassubclass THEN 'tableoid ${dir}, ctid ${dir}'
                       WHEN c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m}'::pg_catalog."char"[]) THEN 'ctid ${dir}' END) AS cols
    FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) ${rel}
), ordering AS (
  SELECT pg_catalog.concat_ws(', ', ${first}, nullif(cols, ${first})) AS cols FROM identity
)
SELECT pg_catalog.format('SELECT %s FROM %s%s%s',
              (SELECT coalesce(pg_catalog.string_agg(pg_catalog.format('%I', attname), ', ' ORDER BY attnum), '')
                 FROM pg_catalog.pg_attribute WHERE attrelid OPERATOR(pg_catalog.=) ${rel} AND attnum OPERATOR(pg_catalog.>) 0 AND NOT attisdropped),
              :'zsl_relation',
              ${query.after === undefined ? "''" : "(SELECT after_key FROM pk)"},
              (SELECT coalesce(' ORDER BY ' OPERATOR(pg_catalog.||) nullif(cols, ''), '') FROM ordering)) AS zsl_select \\gset`);

  if (query.after !== undefined) {
    // A key value its column's type does not accept fails at planning: a bad request, told now.
    parts.push(`\\set ON_ERROR_STOP 0
\\o /dev/null
SELECT 'EXPLAIN ' OPERATOR(pg_catalog.||) :'zsl_select' \\gexec
\\o
\\if :ERROR
\\echo @@MISSING after
\\quit
\\endif
\\set ON_ERROR_STOP 1`);
  }

  if (query.orderBy !== undefined) {
    // Types without a default sort order (json, point, ...) fail at planning; find out now,
    // while the caller can still be told so, rather than after the rows have begun.
    parts.push(`\\set ON_ERROR_STOP 0
\\o /dev/null
SELECT 'EXPLAIN ' OPERATOR(pg_catalog.||) :'zsl_select' \\gexec
\\o
\\if :ERROR
\\echo @@MISSING ordering
\\quit
\\endif
\\set ON_ERROR_STOP 1`);
  }

  if (query.format === "text") {
    // Type names as the database's users see them (format_type qualifies what is not on the
    // search_path): everything else in this statement is qualified, so only names resolve there.
    parts.push(`\\echo @@COLUMNS
SET search_path = "$user", public;
COPY (SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
             (WITH RECURSIVE chain(oid, base) AS (
                SELECT t.oid, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid OPERATOR(pg_catalog.=) a.atttypid
                UNION ALL
                SELECT t.oid, t.typbasetype FROM chain JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) chain.base)
              SELECT oid FROM chain WHERE base OPERATOR(pg_catalog.=) 0)
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) ${rel} AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
       ORDER BY a.attnum) TO STDOUT;
SET search_path = pg_catalog, pg_temp;`);
    parts.push(estimatedTotalSql(rel));
    if (query.orderBy === undefined) parts.push(keyColumnsSql(rel));
  }

  parts.push(`\\echo @@ROWS
SELECT pg_catalog.format('COPY (%s%s) TO STDOUT%s', :'zsl_select', ${quoteLiteral(page)}, ${quoteLiteral(copyOptions)}) \\gexec
`);
  return parts.join("\n");
}

/**
 * `@@RESULT key=2,0`: where the primary key's columns are among the printed ones (0-based, in
 * key order), so the reader can hand the last row's key back for keyset paging; empty when
 * the relation has no primary key.
 */
function keyColumnsSql(rel: string): string {
  return `SELECT coalesce(pg_catalog.string_agg(
         (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute b
           WHERE b.attrelid OPERATOR(pg_catalog.=) ${rel} AND b.attnum OPERATOR(pg_catalog.>) 0 AND NOT b.attisdropped
             AND b.attnum OPERATOR(pg_catalog.<) k.attnum)::pg_catalog.text, ',' ORDER BY k.ord), '') AS zsl_key
  FROM pg_catalog.pg_index i
  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
 WHERE i.indrelid OPERATOR(pg_catalog.=) ${rel} AND i.indisprimary AND k.ord OPERATOR(pg_catalog.<=) i.indnkeyatts \\gset
\\echo @@RESULT key=:zsl_key`;
}

/**
 * `@@RESULT total=N`: the catalog's estimate (reltuples) for large tables; an exact count
 * when that is cheap (few rows, or never analysed but small on disk); a 1 % block sample
 * for large tables without statistics; empty for views and foreign tables, where counting
 * could run an arbitrarily expensive query. Counting is a statement built by the server
 * (`\\gexec`) whose single output line, unaligned and without headers, is the marker.
 */
function estimatedTotalSql(rel: string): string {
  return `WITH RECURSIVE tree(oid) AS (
  SELECT ${rel}
  UNION ALL
  SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent OPERATOR(pg_catalog.=) tree.oid
)
SELECT pg_catalog.bool_or(c.oid OPERATOR(pg_catalog.=) ${rel} AND c.relkind OPERATOR(pg_catalog.=) ANY ('{v,f}'::pg_catalog."char"[])) AS zsl_no_stats,
       coalesce(pg_catalog.sum(c.reltuples) FILTER (WHERE c.reltuples OPERATOR(pg_catalog.>) 0 AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m}'::pg_catalog."char"[])), 0)::pg_catalog.int8 AS zsl_reltuples,
       coalesce(pg_catalog.sum(pg_catalog.pg_relation_size(c.oid)) FILTER (WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{r,m}'::pg_catalog."char"[])), 0) AS zsl_bytes
  FROM tree JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) tree.oid \\gset
\\if :zsl_no_stats
\\echo @@RESULT total=
\\else
SELECT :zsl_reltuples OPERATOR(pg_catalog.>=) ${ESTIMATE_FROM_ROWS} AS zsl_use_stats, :zsl_bytes OPERATOR(pg_catalog.<=) ${EXACT_COUNT_MAX_BYTES} AS zsl_count_all \\gset
\\if :zsl_use_stats
\\echo @@RESULT total=:zsl_reltuples
\\elif :zsl_count_all
SELECT pg_catalog.format('SELECT ''@@RESULT total='' OPERATOR(pg_catalog.||) pg_catalog.count(*) FROM %s', :'zsl_relation') \\gexec
\\else
SELECT pg_catalog.format('SELECT ''@@RESULT total='' OPERATOR(pg_catalog.||) pg_catalog.count(*) OPERATOR(pg_catalog.*) 100 FROM %s TABLESAMPLE SYSTEM (1)', :'zsl_relation') \\gexec
\\endif
\\endif`;
}

/** A session as printed in `@@RESULT backend=`: its server's port, its pid and a hash of its start time. */
const BACKEND_ID = /^(\d{1,5})-(\d{1,10})-([0-9a-f]{32})$/;

export function isBackendId(value: string): boolean {
  return BACKEND_ID.test(value);
}

/** The port of the cluster a browsing session runs in, where its query must be cancelled. */
export function backendPort(backendId: string): number {
  const match = BACKEND_ID.exec(backendId);
  if (!match) throw new Error("not a backend id");
  return Number(match[1]);
}

/**
 * psql script (as postgres, see psqlAsPostgresCommand): cancels the running query of one
 * browsing session. sshd does not pass signals on and a remote psql waiting for its first row
 * never notices a closed channel, so without this a given-up query on a big table would run on.
 * The start time guards against the pid having been reused by another session since.
 */
export function cancelBackendSql(backendId: string): string {
  const match = BACKEND_ID.exec(backendId);
  if (!match) throw new Error("not a backend id");
  return `SET search_path = pg_catalog, pg_temp;
SELECT pg_catalog.pg_cancel_backend(pid) FROM pg_catalog.pg_stat_activity
 WHERE pid OPERATOR(pg_catalog.=) ${match[2]} AND pg_catalog.md5(backend_start::pg_catalog.text) OPERATOR(pg_catalog.=) ${quoteLiteral(match[3] ?? "")};
`;
}
