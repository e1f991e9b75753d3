import { quoteShell } from "../shell";
import { quoteIdent, quoteLiteral } from "./identifiers";

/**
 * Every command and script the service runs on a VPS is built here, from validated
 * identifiers, so the whole remote surface can be reviewed in one file.
 *
 * Conventions:
 * - Secrets never appear in a command line: scripts travel over the SSH channel's stdin,
 *   and SQL holding a password is embedded base64-encoded and piped into psql by the
 *   shell's builtin printf (no process argument list ever holds it).
 * - Scripts print progress markers on stdout (`@@STEP name`, `@@CREATED what`,
 *   `@@RESULT key=value`, `@@MISSING what`, `@@ROWS`); tool output goes to stderr.
 */

/**
 * Every psql session the service opens pins `search_path` at connection start (a client
 * option outranks `ALTER DATABASE/ROLE ... SET`), so no object of a database's users can be
 * picked in place of a catalog function or operator; the scripts set it again first thing.
 * pg_temp comes last: functions and operators are never looked up there anyway.
 */
const PINNED_OPTIONS = "-csearch_path=pg_catalog,pg_temp";

/** A libpq connection string value: single-quoted, with quotes and backslashes escaped. */
function conninfoValue(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

function adminConninfo(database = "postgres", options = PINNED_OPTIONS): string {
  return `dbname=${conninfoValue(database)} options=${conninfoValue(options)}`;
}

/** Shell: `as_postgres CMD...` runs CMD as the OS user postgres (sudo, or runuser on minimal images). */
const AS_POSTGRES = 'as_postgres() { if command -v sudo >/dev/null 2>&1; then sudo -n -u postgres -- "$@"; else runuser -u postgres -- "$@"; fi; }';

/**
 * Shell: PSQL, the newest installed psql binary (any of them talks to every supported server;
 * Debian's `psql` wrapper is a Perl script that costs more than a catalog query).
 */
const PICK_PSQL = 'PSQL=psql; for b in /usr/lib/postgresql/*/bin/psql; do case $b in */8.*|*/9.*) ;; *) [ -x "$b" ] && PSQL=$b ;; esac; done';

/** Shell: prints the port of the cluster a deploy uses: the one on 5432, else the newest. */
const DEFAULT_CLUSTER_PORT = `zsl_default_port() { pg_lsclusters -h 2>/dev/null | sort -V | awk '$3 == 5432 { p = $3 } { l = $3 } END { print (p ? p : l) }'; }`;

/**
 * Shell: PORT, the port of the cluster holding database `dbName`. A machine may run several
 * clusters (on any ports): each running one has a socket in /var/run/postgresql. With one,
 * that is it; with several, the one that has the database; failing that (a role-only
 * rollback, a database already gone) the deploy's choice.
 */
function findClusterOf(dbName: string): string {
  const hasDb = `SELECT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) ${quoteLiteral(dbName)})`;
  return [
    DEFAULT_CLUSTER_PORT,
    "zsl_ports=; for s in /var/run/postgresql/.s.PGSQL.*; do p=${s##*.}; case $p in ''|*[!0-9]*) ;; *) zsl_ports=\"$zsl_ports $p\" ;; esac; done",
    "set -- $zsl_ports; PORT=",
    'if [ $# -eq 1 ]; then PORT=$1; fi',
    `if [ $# -gt 1 ]; then for p in "$@"; do if [ "$(as_postgres "$PSQL" -X -qtA -p "$p" -d ${quoteShell(adminConninfo())} -c ${quoteShell(hasDb)} </dev/null 2>/dev/null)" = t ]; then PORT=$p; break; fi; done; fi`,
    '[ -n "$PORT" ] || PORT=$(zsl_default_port); [ -n "$PORT" ] || PORT=5432',
  ].join("; ");
}

/** Where an administrative psql connects: the cluster holding a database, or a known port. */
export type ClusterTarget = { clusterOf: string } | { port: number };

/**
 * Runs a psql script (read from stdin) as the `postgres` superuser through peer authentication,
 * connected to the `postgres` database of the right cluster with `search_path` pinned. Only
 * for our own administrative scripts: nothing of a user's database is ever read this way.
 */
export function psqlAsPostgresCommand(target: ClusterTarget): string {
  const port = "port" in target ? `PORT=${Math.trunc(target.port)}` : findClusterOf(target.clusterOf);
  const args = `-X -q -v ON_ERROR_STOP=1 -p "$PORT" -d ${quoteShell(adminConninfo())}`;
  return [
    "cd /tmp 2>/dev/null || cd /",
    AS_POSTGRES,
    PICK_PSQL,
    port,
    `if command -v sudo >/dev/null 2>&1; then exec sudo -n -u postgres -- "$PSQL" ${args}; else exec runuser -u postgres -- "$PSQL" ${args}; fi`,
  ].join("; ");
}

/** What marks the short-lived roles browsing logs in as (see psqlAsDatabaseOwnerCommand). */
const READER_TAG = "zyotra-storage-layer reader";

/**
 * Settings of the administrative session that creates and drops reader roles, given at
 * connection start (no round trips: under load each costs more than the statement).
 * Passwords stay out of the server log; losing a throwaway role in a crash is harmless,
 * waiting for the disk on every browse is not.
 */
const READER_ADMIN_OPTIONS = `${PINNED_OPTIONS} -cstandard_conforming_strings=on -clog_statement=none -clog_min_error_statement=panic -clog_min_duration_statement=-1 -cpassword_encryption=scram-sha-256 -csynchronous_commit=off`;

/**
 * psql script (as postgres): checks the database may be browsed and creates a login role that
 * is a member of the database's owner. Reports `@@MISSING database` or `@@MISSING safe-owner`
 * (the owner is a superuser or may run programs or touch files on the server: whatever its
 * objects do would then escape the database) and stops; `@@READY` otherwise. Three round trips.
 */
function readerRoleSql(dbName: string): string {
  const db = quoteLiteral(dbName);
  return `SET search_path = pg_catalog, pg_temp;
SELECT d.oid IS NOT NULL AS zsl_db_exists, coalesce(r.rolname, '') AS zsl_owner,
       coalesce(r.rolsuper OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                              WHERE g.rolname OPERATOR(pg_catalog.=) ANY (ARRAY['pg_execute_server_program', 'pg_write_server_files', 'pg_read_server_files']::pg_catalog.name[])
                                AND pg_catalog.pg_has_role(r.oid, g.oid, 'USAGE')), false) AS zsl_owner_unsafe,
       (pg_catalog.now() OPERATOR(pg_catalog.+) '5 minutes'::pg_catalog.interval)::pg_catalog.text AS zsl_until
  FROM (SELECT) AS one
  LEFT JOIN pg_catalog.pg_database d ON d.datname OPERATOR(pg_catalog.=) ${db} AND d.datallowconn
  LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) d.datdba \\gset
\\if :zsl_db_exists
\\else
\\echo @@MISSING database
\\quit
\\endif
\\if :zsl_owner_unsafe
\\echo @@MISSING safe-owner
\\quit
\\endif
CREATE ROLE :"zsl_reader" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT 1
  PASSWORD :'zsl_secret' VALID UNTIL :'zsl_until' IN ROLE :"zsl_owner" \\;
COMMENT ON ROLE :"zsl_reader" IS ${quoteLiteral(READER_TAG)};
\\echo @@READY
`;
}

/** Drops a reader role, then any expired leftovers (of connections that died before their drop). */
const DROP_READER_SQL = `\\set ON_ERROR_STOP 0
SET search_path = pg_catalog, pg_temp;
-- NOLOGIN first: a role its session gave objects to cannot be dropped, but never logs in again.
ALTER ROLE :"zsl_reader" NOLOGIN;
DROP ROLE :"zsl_reader";
SELECT pg_catalog.format('DROP ROLE %I', r.rolname) FROM pg_catalog.pg_roles r
 WHERE pg_catalog.shobj_description(r.oid, 'pg_authid') OPERATOR(pg_catalog.=) ${quoteLiteral(READER_TAG)}
   AND r.rolvaliduntil OPERATOR(pg_catalog.<) pg_catalog.now() \\gexec
`;

/**
 * Runs a psql script (read from stdin) in database `dbName` as a non-superuser with the
 * rights of the database's owner, never as postgres: views, functions and policies in a
 * user's database run as whoever reads them, and `SET ROLE`/`SET SESSION AUTHORIZATION`
 * from a superuser session can be undone by the very code they are meant to contain.
 *
 * So the command creates a throwaway login role (random name and password, generated on the
 * machine and never leaving it, valid for minutes, one connection) that is a member of the
 * owner, logs in as it over loopback TCP, and drops it when psql ends (in the background, so the
 * answer does not wait for it); expired leftovers (a dropped connection) go with the next drop.
 * The password reaches psql only through shell builtins and its environment.
 */
export function psqlAsDatabaseOwnerCommand(dbName: string): string {
  const readerEnv = `PGPASSWORD=$W PGOPTIONS=${quoteShell(`${PINNED_OPTIONS} -cstandard_conforming_strings=on -cdefault_transaction_read_only=on`)} PGCLIENTENCODING=UTF8 PGAPPNAME=zyotra-storage-layer PGCONNECT_TIMEOUT=10 PGSSLMODE=allow`;
  return [
    "cd /tmp 2>/dev/null || cd /",
    AS_POSTGRES,
    PICK_PSQL,
    findClusterOf(dbName),
    `zsl_admin() { as_postgres "$PSQL" -X -q -v ON_ERROR_STOP=1 -p "$PORT" -d ${quoteShell(adminConninfo("postgres", READER_ADMIN_OPTIONS))}; }`,
    // 32 random bytes in hex: 8 name the role, 24 are its password (one process, the rest builtins).
    "R=zsl_reader_ W= n=0; for h in $(od -An -N32 -tx1 /dev/urandom); do if [ $n -lt 8 ]; then R=$R$h; else W=$W$h; fi; n=$((n + 1)); done",
    '[ ${#W} -eq 48 ] || exit 1',
    `zsl_out=$({ printf '\\\\set zsl_reader %s\\n\\\\set zsl_secret %s\\n' "$R" "$W"; printf '%s' ${quoteShell(readerRoleSql(dbName))}; } | zsl_admin) || { printf '%s\\n' "$zsl_out"; exit 1; }`,
    `case $zsl_out in *@@READY*) ;; *) printf '%s\\n' "$zsl_out"; exit 0 ;; esac`,
    `${readerEnv} "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U "$R" -d ${quoteShell(`dbname=${conninfoValue(dbName)}`)}`,
    "zsl_status=$?",
    // In the background, holding none of the channel's streams: the answer need not wait for it.
    `({ printf '\\\\set zsl_reader %s\\n' "$R"; printf '%s' ${quoteShell(DROP_READER_SQL)}; } | zsl_admin) </dev/null >/dev/null 2>&1 &`,
    "exit $zsl_status",
  ].join("\n");
}

/** The command that receives a bash script on stdin (non-root SSH users go through sudo). */

const SESSION_SAFETY_SQL = [
  // First thing: no object of a user's can be picked in place of a catalog one (see PINNED_OPTIONS).
  "SET search_path = pg_catalog, pg_temp;",
  "SET standard_conforming_strings = on;",
  // Keep passwords out of the VPS's server log whatever its logging settings are.
  "SET log_statement = 'none';",
  "SET log_min_error_statement = 'panic';",
  "SET log_min_duration_statement = -1;",
].join("\n");

export interface RoleAndDatabaseSpec {
  dbName: string;
  userName: string;
  password: string;
  /** The deployed_db row this deploy fills; stamped on what it creates (see reconcileDeploySql). */
  deployId: number;
  /**
   * The role already belongs to another recorded database of the same caller on this machine,
   * so an existing role of that name is theirs to reuse (it gets the new password). Otherwise
   * an existing role is refused: we would hand someone else's role a password we chose.
   */
  reuseExistingRole?: boolean;
}

/** Why roleAndDatabaseSql refused to touch the machine (the `@@REFUSED` marker's word). */
export const DEPLOY_REFUSALS = ["privileged-role", "foreign-role", "foreign-database"] as const;

/**
 * Roles whose members can act beyond their own databases: a role that is (or inherits from)
 * one of them must never receive a password we set and a login open to the world.
 */
const PRIVILEGED_PREDEFINED_ROLES = [
  "pg_execute_server_program",
  "pg_read_server_files",
  "pg_write_server_files",
  "pg_read_all_data",
  "pg_write_all_data",
  "pg_signal_backend",
];

/** Marks a role or database as created by one deploy, so an interrupted deploy can be undone exactly. */
export function deployTag(deployId: number): string {
  return `zyotra-storage-layer deploy ${deployId}`;
}

/**
 * psql script: create (or update) the login role, create the database, grant. Everything it
 * refuses is checked before anything changes: an existing role that is privileged (or a member
 * of a privileged role), an existing role we may not reuse, and any existing database (every
 * database we created has its own row, and this deploy's row already claimed the name, so an
 * existing one was made by someone else). A refusal prints `@@REFUSED <reason>` and fails.
 */
export function roleAndDatabaseSql({ dbName, userName, password, deployId, reuseExistingRole = false }: RoleAndDatabaseSpec): string {
  const role = quoteIdent(userName);
  const db = quoteIdent(dbName);
  const privileged = "r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls";
  const predefined = PRIVILEGED_PREDEFINED_ROLES.map(quoteLiteral).join(", ");
  return `${SESSION_SAFETY_SQL}
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ${quoteLiteral(userName)}) AS zsl_role_exists \\gset
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles m JOIN pg_catalog.pg_roles r ON pg_catalog.pg_has_role(m.oid, r.oid, 'MEMBER') WHERE m.rolname = ${quoteLiteral(userName)} AND (${privileged} OR r.rolname IN (${predefined}))) AS zsl_role_privileged \\gset
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(dbName)}) AS zsl_db_exists \\gset
\\set zsl_refused false
\\if :zsl_role_privileged
\\echo @@REFUSED privileged-role
\\set zsl_refused true
\\elif :zsl_db_exists
\\echo @@REFUSED foreign-database
\\set zsl_refused true
\\elif ${reuseExistingRole ? "false" : ":zsl_role_exists"}
\\echo @@REFUSED foreign-role
\\set zsl_refused true
\\endif
\\if :zsl_refused
DO $zsl$ BEGIN RAISE EXCEPTION 'deploy refused, nothing was changed'; END $zsl$;
\\endif
\\if :zsl_role_exists
ALTER ROLE ${role} WITH LOGIN PASSWORD ${quoteLiteral(password)};
\\else
CREATE ROLE ${role} WITH LOGIN PASSWORD ${quoteLiteral(password)};
COMMENT ON ROLE ${role} IS ${quoteLiteral(deployTag(deployId))};
\\echo @@CREATED role
\\endif
CREATE DATABASE ${db} OWNER ${role};
COMMENT ON DATABASE ${db} IS ${quoteLiteral(deployTag(deployId))};
\\echo @@CREATED database
GRANT ALL PRIVILEGES ON DATABASE ${db} TO ${role};
`;
}

/** Ends the other sessions of a database or role; calls and operators qualified (see PINNED_OPTIONS). */
function terminateSessionsSql(column: "datname" | "usename", name: string): string {
  return `SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(pid)) AS terminated FROM pg_catalog.pg_stat_activity WHERE ${column} OPERATOR(pg_catalog.=) ${quoteLiteral(name)} AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() \\gset`;
}

/**
 * psql script undoing a deploy that never finished (the service died mid-way): drops the
 * database and the role only if they carry that deploy's tag, i.e. it created them.
 */
export function reconcileDeploySql({ dbName, userName, deployId }: Omit<RoleAndDatabaseSpec, "password">): string {
  const tag = quoteLiteral(deployTag(deployId));
  return (
    [
      SESSION_SAFETY_SQL,
      `SELECT EXISTS (SELECT FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) ${quoteLiteral(dbName)} AND pg_catalog.shobj_description(d.oid, 'pg_database') OPERATOR(pg_catalog.=) ${tag}) AS zsl_drop_db \\gset`,
      "\\if :zsl_drop_db",
      `ALTER DATABASE ${quoteIdent(dbName)} WITH ALLOW_CONNECTIONS false;`,
      terminateSessionsSql("datname", dbName),
      `DROP DATABASE ${quoteIdent(dbName)};`,
      "\\endif",
      `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) ${quoteLiteral(userName)} AND pg_catalog.shobj_description(r.oid, 'pg_authid') OPERATOR(pg_catalog.=) ${tag}) AS zsl_drop_role \\gset`,
      "\\if :zsl_drop_role",
      terminateSessionsSql("usename", userName),
      `DROP ROLE ${quoteIdent(userName)};`,
      "\\endif",
    ].join("\n") + "\n"
  );
}

export interface DropSpec {
  dbName?: string;
  /** Drop this role too (only when no other recorded database on the host uses it). */
  dropRole?: string;
}

/** psql script: end sessions, drop the database if present, then optionally the role. */
export function dropDatabaseSql({ dbName, dropRole }: DropSpec): string {
  const lines = [SESSION_SAFETY_SQL];
  if (dbName) {
    lines.push(
      // Refuse new sessions first so none can slip in between terminate and drop.
      `SELECT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) ${quoteLiteral(dbName)}) AS zsl_db_exists \\gset`,
      "\\if :zsl_db_exists",
      `ALTER DATABASE ${quoteIdent(dbName)} WITH ALLOW_CONNECTIONS false;`,
      terminateSessionsSql("datname", dbName),
      `DROP DATABASE IF EXISTS ${quoteIdent(dbName)};`,
      "\\endif",
    );
  }
  if (dropRole) {
    lines.push(
      terminateSessionsSql("usename", dropRole),
      `DROP ROLE IF EXISTS ${quoteIdent(dropRole)};`,
    );
  }
  return lines.join("\n") + "\n";
}

export interface DeployScriptOptions {
  roleAndDatabaseSql: string;
}

/**
 * The whole deployment as one idempotent bash script: install PostgreSQL when missing,
 * make sure a cluster exists and runs, create role and database, open remote access,
 * and verify. A machine that is already set up changes nothing but the role and database.
 */
export function deployScript({ roleAndDatabaseSql }: DeployScriptOptions): string {
  const sqlBase64 = Buffer.from(roleAndDatabaseSql, "utf8").toString("base64");
  return `set -u
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
HBA_V4='host all all 0.0.0.0/0 scram-sha-256'
HBA_V6='host all all ::/0 scram-sha-256'
MARK='# managed by Zyotra Storage Layer'
SETTINGS_SQL="SELECT pg_catalog.concat_ws('|', pg_catalog.current_setting('config_file'), pg_catalog.current_setting('hba_file'), pg_catalog.current_setting('listen_addresses')) AS zsl_settings \\gset
\\echo @@SETTINGS :zsl_settings"

step() { printf '@@STEP %s\\n' "$1"; }
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
as_postgres() { if command -v sudo >/dev/null 2>&1; then sudo -n -u postgres -- "$@"; else runuser -u postgres -- "$@"; fi; }
psql_admin() { as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d ${quoteShell(adminConninfo())} "$@"; }
backup_once() { [ -e "$1.zyotra.bak" ] || cp -p "$1" "$1.zyotra.bak" || fail "could not back up $1"; }

main() {
  cd /tmp 2>/dev/null || cd /

  step lock
  # Serialises configuration changes when several deploys reach one machine at once. Commands
  # that may leave a daemon running get "9>&-" so the server never inherits (and holds) the lock.
  if command -v flock >/dev/null 2>&1 && mkdir -p /run/lock 2>/dev/null; then
    exec 9>>/run/lock/zyotra-storage-layer.lock || fail "could not open the lock file"
    flock -w 300 9 || fail "another deployment kept the machine busy for too long"
  fi

  step detect
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    step install
    apt-get update -q >&2 || fail "apt-get update failed"
    apt-get install -y -q postgresql postgresql-contrib >&2 9>&- || fail "apt-get install postgresql failed"
  fi

  step cluster
  # pg_lsclusters is a Perl script costing more than the rest of a deploy on a configured
  # machine. Its choice is kept in /run (gone at reboot) with a fingerprint of what it reads
  # (cluster configurations, installed servers, pid files) and reused only while that matches
  # and the chosen cluster's postmaster is alive; anything else asks pg_lsclusters again.
  cache=/run/zyotra-storage-layer.clusters
  fingerprint=$(stat -c '%n %Y %Z %s %i' /etc/postgresql/*/*/*.conf /etc/postgresql/*/*/conf.d /etc/postgresql/*/*/conf.d/* /usr/lib/postgresql/*/bin/postgres /var/run/postgresql/*.pid 2>/dev/null | cksum)
  line=
  if [ -r "$cache" ] && [ "$(head -n 1 "$cache")" = "$fingerprint" ]; then
    line=$(sed -n 2p "$cache")
    set -- $line
    case "\${4:-}" in
      online*) pid=$(head -n 1 "/var/run/postgresql/$1-$2.pid" 2>/dev/null); { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || line= ;;
      *) line= ;;
    esac
  fi
  if [ -z "$line" ]; then
    line=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print; exit }')
    [ -n "$line" ] || line=$(pg_lsclusters -h 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$line" ]; then
      ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      pg_createcluster "$ver" main >&2 || fail "pg_createcluster failed"
      line=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" { print; exit }')
    fi
    [ -n "$line" ] && printf '%s\\n%s\\n' "$fingerprint" "$line" > "$cache.$$" && mv -f "$cache.$$" "$cache"
  fi
  [ -n "$line" ] || fail "no PostgreSQL cluster found"
  set -- $line
  PG_VER=$1 PG_CLUSTER=$2 PG_PORT=$3 PG_STATUS=$4
  # The versioned binaries directly: Debian's psql wrapper is a slow Perl script.
  PG_BIN=/usr/lib/postgresql/$PG_VER/bin

  step start
  changed=
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    unit="postgresql@$PG_VER-$PG_CLUSTER"
    svc() { systemctl "$1" "$unit" >&2 9>&-; }
  else
    svc() { pg_ctlcluster "$PG_VER" "$PG_CLUSTER" "$1" >&2 9>&-; }
  fi
  case "$PG_STATUS" in
    online*) ;;
    *)
      changed=1
      svc start || fail "PostgreSQL did not start"
      "$PG_BIN/pg_isready" -q -p "$PG_PORT" -t 30 || fail "PostgreSQL is not accepting connections"
      ;;
  esac

  step database
  # One psql session (one sudo, one login) creates the role and database and then reads the
  # settings the next step needs. Its markers (@@CREATED, @@REFUSED) are passed on as they are.
  out=$({ printf '%s' '${sqlBase64}' | base64 -d; printf '%s\\n' "$SETTINGS_SQL"; } | psql_admin)
  rc=$?
  [ -z "$out" ] || printf '%s\\n' "$out" | grep -v '^@@SETTINGS ' || true
  # A failure may come from a cluster chosen from the cache: the next deploy asks pg_lsclusters.
  [ "$rc" = 0 ] || { rm -f "$cache"; fail "creating the role and database failed"; }
  settings=$(printf '%s\\n' "$out" | sed -n 's/^@@SETTINGS //p')
  [ -n "$settings" ] || fail "could not read the server settings"

  step remote-access
  IFS='|' read -r conf hba listening <<EOF_SETTINGS
$settings
EOF_SETTINGS
  need_restart= need_reload=
  active=$(grep -cE '^[[:space:]]*listen_addresses[[:space:]]*=' "$conf")
  wanted=$(grep -cE "^[[:space:]]*listen_addresses[[:space:]]*=[[:space:]]*'\\\\*'[[:space:]]*(#.*)?$" "$conf")
  if [ "$active" != 1 ] || [ "$wanted" != 1 ]; then
    tmp=$(mktemp) || fail "mktemp failed"
    sed -E 's/^([[:space:]]*listen_addresses[[:space:]]*=)/#\\1/' "$conf" > "$tmp" && printf "listen_addresses = '*'    %s\\n" "$MARK" >> "$tmp" || fail "could not edit $conf"
    backup_once "$conf"
    cat "$tmp" > "$conf" || fail "could not write $conf"
    rm -f "$tmp"
  fi
  [ "$listening" = '*' ] || need_restart=1

  tmp=$(mktemp) || fail "mktemp failed"
  awk -v a="$HBA_V4" -v b="$HBA_V6" '
    { norm = $0; sub(/#.*/, "", norm); gsub(/[[:space:]]+/, " ", norm); sub(/^ /, "", norm); sub(/ $/, "", norm) }
    norm == a { if (seen_a++) next }
    norm == b { if (seen_b++) next }
    { print }
    END { if (!seen_a) print a; if (!seen_b) print b }' "$hba" > "$tmp" || fail "could not edit $hba"
  if ! cmp -s "$tmp" "$hba"; then
    backup_once "$hba"
    cat "$tmp" > "$hba" || fail "could not write $hba"
    need_reload=1
  fi
  rm -f "$tmp"

  if [ -n "$need_restart" ]; then
    step restart
    svc restart || fail "PostgreSQL did not restart"
  elif [ -n "$need_reload" ]; then
    step reload
    loaded=$(psql_admin -tAc 'SELECT pg_conf_load_time()')
    svc reload || fail "PostgreSQL did not reload its configuration"
    # A reload is only signalled; wait (bounded) until the server has really re-read it.
    tries=0
    while [ "$(psql_admin -tAc 'SELECT pg_conf_load_time()')" = "$loaded" ]; do
      tries=$((tries + 1))
      [ "$tries" -le 100 ] || fail "PostgreSQL did not apply the new pg_hba.conf"
      sleep 0.05
    done
  fi

  step verify
  # Only after a start, restart or reload: a server that was running and left alone accepted
  # connections already, and the service logs in over TCP as the new role before it answers.
  if [ -n "$changed$need_restart$need_reload" ]; then
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 30 || fail "PostgreSQL does not accept TCP connections"
  fi
  if [ -n "$need_restart" ]; then
    [ "$(psql_admin -tAc 'SHOW listen_addresses')" = '*' ] || fail "listen_addresses is overridden by another configuration file"
  fi
  printf '@@RESULT port=%s\\n' "$PG_PORT"
}

main </dev/null
`;
}

/**
 * Bash: `find_cluster <sql>` sets PG_VER and PG_PORT to the first running cluster where the
 * probe (run as postgres) prints 1; both stay empty when none does. A machine may run
 * several clusters, on any port.
 */
const FIND_CLUSTER_FUNCTIONS = `as_postgres() { if command -v sudo >/dev/null 2>&1; then sudo -n -u postgres -- "$@"; else runuser -u postgres -- "$@"; fi; }
find_cluster() {
  PG_VER= PG_PORT=
  clusters=$(pg_lsclusters -h 2>/dev/null) || clusters=
  while read -r ver name port status rest; do
    case "$status" in online*) ;; *) continue ;; esac
    found=$(as_postgres "/usr/lib/postgresql/$ver/bin/psql" -X -q -tA -p "$port" -d postgres -c "$1" 2>/dev/null </dev/null)
    if [ "$found" = 1 ]; then PG_VER=$ver PG_PORT=$port; return 0; fi
  done <<EOF_CLUSTERS
$clusters
EOF_CLUSTERS
  return 1
}`;

const databaseProbe = (dbName: string) => quoteShell(`SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(dbName)}`);

/**
 * Finds the port of the running cluster that holds `dbName`: prints `@@RESULT port=<n>`, or
 * `@@MISSING database` when no running cluster has it. Sent as a bash script over stdin; the
 * name is a validated identifier.
 */
export function databasePortScript(dbName: string): string {
  return `set -u
export LC_ALL=C
cd /tmp 2>/dev/null || cd /
${FIND_CLUSTER_FUNCTIONS}
if find_cluster ${databaseProbe(dbName)}; then printf '@@RESULT port=%s\\n' "$PG_PORT"; else printf '@@MISSING database\\n'; fi
`;
}

/** Where backups live on a machine: one directory per engine and database, root's alone (0700). */
export const BACKUP_ROOT = "/var/backups/zyotra";
const BACKUP_PATH = /^\/var\/backups\/zyotra\/[a-z]+\/[A-Za-z_][A-Za-z0-9_]*\/[A-Za-z0-9_][A-Za-z0-9_.-]*\.dump$/;

export function postgresBackupDir(dbName: string): string {
  return `${BACKUP_ROOT}/postgres/${dbName}`;
}

/** Only paths of the shape this service writes are ever read, restored or removed. */
export function assertBackupPath(path: string): string {
  if (!BACKUP_PATH.test(path) || path.includes("..")) throw new Error("not a backup path of this service");
  return path;
}

const partialOf = (path: string) => path.replace(/\/([^/]+)$/, "/.$1.partial");

/**
 * pg_dump in custom format (compressed) of exactly one database, written by root's shell into a
 * temporary name in the database's 0700 directory (file 0600), renamed only when pg_dump
 * succeeded; prints `@@RESULT size=` and `@@RESULT sha256=`. On failure nothing is left and
 * `@@FAIL` says why; pg_dump's own messages go to stderr.
 */
export function postgresDumpScript(dbName: string, path: string): string {
  assertBackupPath(path);
  const dir = path.slice(0, path.lastIndexOf("/"));
  return `set -u
export LC_ALL=C
cd /tmp 2>/dev/null || cd /
umask 077
# A closed channel makes writes fail instead of killing the shell, so the EXIT trap cleans up.
trap '' PIPE
${FIND_CLUSTER_FUNCTIONS}
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
find_cluster ${databaseProbe(dbName)} || { printf '@@MISSING database\\n'; exit 1; }
mkdir -p ${quoteShell(dir)} && chmod 0700 ${quoteShell(BACKUP_ROOT)} ${quoteShell(`${BACKUP_ROOT}/postgres`)} ${quoteShell(dir)} || fail "could not create the backup directory"
tmp=${quoteShell(partialOf(path))}
trap 'rm -f "$tmp"' EXIT
if ! as_postgres "/usr/lib/postgresql/$PG_VER/bin/pg_dump" -Fc -p "$PG_PORT" -d ${quoteShell(dbName)} > "$tmp" </dev/null; then
  fail "pg_dump failed"
fi
size=$(stat -c %s "$tmp") && sum=$(sha256sum "$tmp") || fail "could not measure the dump"
# Only for a requester still listening: after the service died (its channel closed) this write
# fails and the dump never lands, so a restarted service's clean-up cannot be overtaken.
printf '@@STEP rename\\n' || exit 1
mv -f "$tmp" ${quoteShell(path)} || fail "could not move the dump into place"
trap - EXIT
printf '@@RESULT size=%s\\n@@RESULT sha256=%s\\n' "$size" "\${sum%% *}"
`;
}

/** Removes a backup file and its temporary twin (an interrupted dump); missing files are fine. */
export function removeBackupScript(path: string): string {
  assertBackupPath(path);
  return `rm -f -- ${quoteShell(path)} ${quoteShell(partialOf(path))}\n`;
}

/**
 * Streams a backup file to stdout (the download), after checking it still has its recorded
 * SHA-256: a changed or missing file sends no byte and exits 3 (`@@FAIL` on stderr).
 */
export function readBackupScript(path: string, sha256: string): string {
  assertBackupPath(path);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error("not a sha256");
  return `printf '%s  %s\\n' ${quoteShell(sha256)} ${quoteShell(path)} | sha256sum -c --status - 2>/dev/null || { printf '@@FAIL checksum\\n' >&2; exit 3; }
exec cat -- ${quoteShell(path)}
`;
}

export interface RestoreSpec {
  path: string;
  sha256: string;
  /** A new database: the restore refuses an existing one. */
  dbName: string;
  roleName: string;
  deployId: number;
}

/**
 * Restores a custom-format dump into a NEW database owned by the role, in the cluster where the
 * role lives: checksum first, then CREATE DATABASE (tagged like a deploy, so an interrupted
 * restore is undone like an interrupted deploy), then pg_restore as that role (objects owned by
 * it, no foreign owners or grants), in one transaction. On failure the new database is dropped.
 */
export function postgresRestoreScript({ path, sha256, dbName, roleName, deployId }: RestoreSpec): string {
  assertBackupPath(path);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error("not a sha256");
  const db = quoteIdent(dbName);
  const role = quoteIdent(roleName);
  const createSql = `${SESSION_SAFETY_SQL}
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = ${quoteLiteral(dbName)}) AS zsl_db_exists \\gset
\\if :zsl_db_exists
\\echo @@REFUSED foreign-database
DO $zsl$ BEGIN RAISE EXCEPTION 'restore refused, nothing was changed'; END $zsl$;
\\endif
CREATE DATABASE ${db} OWNER ${role};
COMMENT ON DATABASE ${db} IS ${quoteLiteral(deployTag(deployId))};
GRANT ALL PRIVILEGES ON DATABASE ${db} TO ${role};
`;
  const dropSql = `DROP DATABASE IF EXISTS ${db};\n`;
  return `set -u
export LC_ALL=C
cd /tmp 2>/dev/null || cd /
${FIND_CLUSTER_FUNCTIONS}
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
printf '%s  %s\\n' ${quoteShell(sha256)} ${quoteShell(path)} | sha256sum -c --status - || fail "the backup file does not match its recorded checksum"
find_cluster ${quoteShell(`SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(roleName)}`)} || fail "the role of the backup no longer exists on the machine"
PG_BIN=/usr/lib/postgresql/$PG_VER/bin
printf '%s' '${Buffer.from(createSql, "utf8").toString("base64")}' | base64 -d | as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres || fail "creating the database failed"
printf '@@CREATED database\\n'
if ! as_postgres "$PG_BIN/pg_restore" --no-owner --no-privileges --role=${quoteShell(roleName)} --exit-on-error --single-transaction -p "$PG_PORT" -d ${quoteShell(dbName)} < ${quoteShell(path)}; then
  printf '%s' '${Buffer.from(dropSql, "utf8").toString("base64")}' | base64 -d | as_postgres "$PG_BIN/psql" -X -q -p "$PG_PORT" -d postgres
  fail "pg_restore failed"
fi
printf '@@RESULT restored=1\\n'
`;
}
