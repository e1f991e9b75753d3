import { quoteIdent, quoteLiteral, quoteShell } from "./identifiers";

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
 * Runs a psql script (read from stdin) as the `postgres` superuser through peer authentication.
 * With a single cluster it calls that version's psql binary directly: Debian's `psql` wrapper is
 * a Perl script that costs more than the query itself. With several clusters the wrapper picks
 * the right one. Only shell builtins run before psql.
 */
export function psqlAsPostgresCommand(database = "postgres"): string {
  const args = `-X -q -v ON_ERROR_STOP=1 -d ${quoteShell(database)}`;
  return [
    "cd /tmp 2>/dev/null || cd /",
    "set -- /etc/postgresql/*/*/postgresql.conf",
    'PSQL=psql; if [ $# -eq 1 ] && [ -e "$1" ]; then v=${1#/etc/postgresql/}; v=${v%%/*}; [ -x "/usr/lib/postgresql/$v/bin/psql" ] && PSQL="/usr/lib/postgresql/$v/bin/psql"; fi',
    // sudo is the norm; runuser covers minimal images without sudo.
    `if command -v sudo >/dev/null 2>&1; then exec sudo -n -u postgres -- "$PSQL" ${args}; else exec runuser -u postgres -- "$PSQL" ${args}; fi`,
  ].join("; ");
}

/** The command that receives a bash script on stdin (non-root SSH users go through sudo). */
export function bashScriptCommand(sshUser: string): string {
  return sshUser === "root" ? "bash -s" : "sudo -n bash -s";
}

const SESSION_SAFETY_SQL = [
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

/**
 * psql script undoing a deploy that never finished (the service died mid-way): drops the
 * database and the role only if they carry that deploy's tag, i.e. it created them.
 */
export function reconcileDeploySql({ dbName, userName, deployId }: Omit<RoleAndDatabaseSpec, "password">): string {
  const tag = quoteLiteral(deployTag(deployId));
  return (
    [
      SESSION_SAFETY_SQL,
      `SELECT EXISTS (SELECT 1 FROM pg_database d WHERE d.datname = ${quoteLiteral(dbName)} AND shobj_description(d.oid, 'pg_database') = ${tag}) AS zsl_drop_db \\gset`,
      "\\if :zsl_drop_db",
      `ALTER DATABASE ${quoteIdent(dbName)} WITH ALLOW_CONNECTIONS false;`,
      `SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE datname = ${quoteLiteral(dbName)} AND pid <> pg_backend_pid() \\gset`,
      `DROP DATABASE ${quoteIdent(dbName)};`,
      "\\endif",
      `SELECT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = ${quoteLiteral(userName)} AND shobj_description(r.oid, 'pg_authid') = ${tag}) AS zsl_drop_role \\gset`,
      "\\if :zsl_drop_role",
      `SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE usename = ${quoteLiteral(userName)} AND pid <> pg_backend_pid() \\gset`,
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
      `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(dbName)}) AS zsl_db_exists \\gset`,
      "\\if :zsl_db_exists",
      `ALTER DATABASE ${quoteIdent(dbName)} WITH ALLOW_CONNECTIONS false;`,
      `SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE datname = ${quoteLiteral(dbName)} AND pid <> pg_backend_pid() \\gset`,
      `DROP DATABASE IF EXISTS ${quoteIdent(dbName)};`,
      "\\endif",
    );
  }
  if (dropRole) {
    lines.push(
      `SELECT count(pg_terminate_backend(pid)) AS terminated FROM pg_stat_activity WHERE usename = ${quoteLiteral(dropRole)} AND pid <> pg_backend_pid() \\gset`,
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

step() { printf '@@STEP %s\\n' "$1"; }
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
as_postgres() { if command -v sudo >/dev/null 2>&1; then sudo -n -u postgres -- "$@"; else runuser -u postgres -- "$@"; fi; }
psql_admin() { as_postgres "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"; }
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
  line=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print; exit }')
  [ -n "$line" ] || line=$(pg_lsclusters -h 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$line" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$ver" main >&2 || fail "pg_createcluster failed"
    line=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" { print; exit }')
  fi
  [ -n "$line" ] || fail "no PostgreSQL cluster found"
  set -- $line
  PG_VER=$1 PG_CLUSTER=$2 PG_PORT=$3 PG_STATUS=$4
  # The versioned binaries directly: Debian's psql wrapper is a slow Perl script.
  PG_BIN=/usr/lib/postgresql/$PG_VER/bin

  step start
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    unit="postgresql@$PG_VER-$PG_CLUSTER"
    svc() { systemctl "$1" "$unit" >&2 9>&-; }
  else
    svc() { pg_ctlcluster "$PG_VER" "$PG_CLUSTER" "$1" >&2 9>&-; }
  fi
  case "$PG_STATUS" in
    online*) ;;
    *)
      svc start || fail "PostgreSQL did not start"
      "$PG_BIN/pg_isready" -q -p "$PG_PORT" -t 30 || fail "PostgreSQL is not accepting connections"
      ;;
  esac

  step database
  printf '%s' '${sqlBase64}' | base64 -d | psql_admin || fail "creating the role and database failed"

  step remote-access
  settings=$(psql_admin -tA -F '|' -c "SELECT current_setting('config_file'), current_setting('hba_file'), current_setting('listen_addresses')") || fail "could not read the server settings"
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
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 30 || fail "PostgreSQL does not accept TCP connections"
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
