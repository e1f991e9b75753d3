/**
 * Every command and script the service runs on a VPS for MySQL is built here, from validated
 * identifiers (see mysqlIdentifiers.ts), so the MySQL remote surface can be reviewed in one file.
 *
 * Conventions (as for PostgreSQL):
 * - Scripts travel over the SSH channel's stdin. Secrets are embedded base64-encoded and decoded
 *   by `printf | base64 -d` straight into the mysql client's stdin (SQL) or into an option file
 *   read from a pipe (`--defaults-extra-file=/dev/fd/3`): never in a command line or a file.
 * - The service acts as the machine's root through the server's socket authentication
 *   (`unix_socket` on MariaDB, `auth_socket` on MySQL), so it never needs root's password.
 * - Progress markers on stdout (`@@STEP`, `@@CREATED`, `@@REFUSED`, `@@FAIL`, `@@RESULT`).
 */
import { quoteShell } from "../shell";
import { mysqlIdent, mysqlLiteral } from "./mysqlIdentifiers";

/** Why the deploy script refused to change anything (the `@@REFUSED` marker's word). */
export const MYSQL_DEPLOY_REFUSALS = ["wrong-root-password", "privileged-user", "foreign-user", "foreign-database"] as const;
export type MySqlDeployRefusal = (typeof MYSQL_DEPLOY_REFUSALS)[number];

/** The drop-in that opens remote access; named to sort after the packages' own files. */
export const REMOTE_ACCESS_FILE = "zz-zyotra-remote-access.cnf";

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

/**
 * Session settings first in every root script: our statements (which carry passwords) stay out
 * of the general log, and string literals follow the escaping mysqlLiteral produces whatever
 * the server's default sql_mode is.
 */
const SESSION_SQL = "SET SESSION sql_log_off = 1;\nSET SESSION sql_mode = 'STRICT_TRANS_TABLES';\n";

/** A MySQL option-file value: double-quoted, with the escapes option files understand. */
export function optionFileValue(value: string): string {
  if (value.includes("\0")) throw new Error("option values cannot contain NUL bytes");
  const escaped = value
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\r", "\\r")
    .replaceAll("\t", "\\t");
  return `"${escaped}"`;
}

/** Option file with a client password, for `--defaults-extra-file=/dev/fd/3`. */
export function clientPasswordOptions(password: string): string {
  return `[client]\npassword=${optionFileValue(password)}\n`;
}

export interface MySqlDeploySpec {
  dbName: string;
  userName: string;
  password: string;
  rootPassword: string;
  /** The user already serves another of the caller's recorded MySQL databases on the machine. */
  reuseExistingUser: boolean;
}

/** The SQL, run as root, that sets root's password on a server this service has just installed. */
function setRootPasswordSql(rootPassword: string): { mariadb: string; mysql: string } {
  const pw = mysqlLiteral(rootPassword);
  return {
    // root keeps socket login for the service; the password is an alternative.
    mariadb: `${SESSION_SQL}ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(${pw});\n`,
    // MySQL cannot combine plugins: root@localhost keeps auth_socket, TCP logins get their own accounts.
    mysql: `${SESSION_SQL}${["127.0.0.1", "::1"]
      .map((host) => `CREATE USER IF NOT EXISTS 'root'@'${host}' IDENTIFIED BY ${pw};\nALTER USER 'root'@'${host}' IDENTIFIED BY ${pw};\nGRANT ALL PRIVILEGES ON *.* TO 'root'@'${host}' WITH GRANT OPTION;\n`)
      .join("")}`,
  };
}

/**
 * Everything the deploy needs to know from the server, in one query as root through the socket:
 * the version (MariaDB or MySQL), the port, the running bind address, and whether anything of
 * someone else's would be taken over. One line: `version=… port=… bind=… db=n user=n privileged=n`.
 */
function serverFactsSql(dbName: string, userName: string): string {
  const user = mysqlLiteral(userName);
  // Any global privilege or the right to grant makes a user an administrator we must not hand out.
  const privileged = ["Select", "Insert", "Update", "Delete", "Create", "Drop", "Reload", "Shutdown", "Process", "File", "Grant", "Super", "Create_user", "Alter"]
    .map((p) => `${p}_priv = 'Y'`)
    .join(" OR ");
  return `SELECT CONCAT('version=', REPLACE(VERSION(), ' ', '_'), ' port=', @@port, ' bind=', IFNULL(NULLIF(@@bind_address, ''), '-'),
 ' db=', (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysqlLiteral(dbName)}),
 ' user=', (SELECT COUNT(*) FROM mysql.user WHERE User = ${user}),
 ' privileged=', (SELECT COUNT(*) FROM mysql.user WHERE User = ${user} AND (${privileged})));\n`;
}

function createUserSql({ userName, password, reuseExistingUser }: MySqlDeploySpec): string {
  const pw = mysqlLiteral(password);
  const accounts = ["%", "localhost"].map((host) => `${mysqlLiteral(userName)}@${mysqlLiteral(host)}`);
  const lines = accounts.map((account) =>
    reuseExistingUser
      ? `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${pw};\nALTER USER ${account} IDENTIFIED BY ${pw};`
      : `CREATE USER ${account} IDENTIFIED BY ${pw};`,
  );
  return `${SESSION_SQL}${lines.join("\n")}\n`;
}

function createDatabaseSql({ dbName }: MySqlDeploySpec): string {
  return `${SESSION_SQL}CREATE DATABASE ${mysqlIdent(dbName)} CHARACTER SET utf8mb4;\n`;
}

function grantSql({ dbName, userName }: MySqlDeploySpec): string {
  const grants = ["%", "localhost"].map((host) => `GRANT ALL PRIVILEGES ON ${mysqlIdent(dbName)}.* TO ${mysqlLiteral(userName)}@${mysqlLiteral(host)};`);
  return `${SESSION_SQL}${grants.join("\n")}\n`;
}

/** SQL dropping a database and/or a user's two accounts; absent ones are fine. */
export function mysqlDropSql(spec: { dbName?: string; userName?: string }): string {
  const lines = [SESSION_SQL.trim()];
  if (spec.dbName) lines.push(`DROP DATABASE IF EXISTS ${mysqlIdent(spec.dbName)};`);
  if (spec.userName) {
    const user = mysqlLiteral(spec.userName);
    lines.push(`DROP USER IF EXISTS ${user}@'%', ${user}@'localhost';`);
  }
  return lines.join("\n") + "\n";
}

/** Runs SQL read from stdin as the machine's root through the server's socket. */
export const MYSQL_AS_ROOT_COMMAND = "cd / && exec mysql --protocol=socket -u root --default-character-set=utf8mb4 -N -B";

/**
 * The whole MySQL deployment as one bash script: install the server when missing, start it,
 * set (fresh install) or check (existing) root's password, create user and database, open remote
 * access through one drop-in file (restarting only when the running server binds elsewhere),
 * and report the port. Refusals happen before anything changes.
 */
export function mysqlDeployScript(spec: MySqlDeploySpec): string {
  const rootSql = setRootPasswordSql(spec.rootPassword);
  return `set -u
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
ROOT_UNSET=/etc/mysql/.zyotra-root-password-unset
MARK='# managed by Zyotra Storage Layer: remote access for deployed databases'

step() { printf '@@STEP %s\\n' "$1"; }
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
refuse() { printf '@@REFUSED %s\\n' "$1"; exit 1; }
as_root() { mysql --protocol=socket -u root --default-character-set=utf8mb4 -N -B "$@"; }
sql_b64() { printf '%s' "$1" | base64 -d | as_root; }
server_installed() { [ -x /usr/sbin/mysqld ] || [ -x /usr/sbin/mariadbd ]; }

main() {
  cd / || exit 1

  step lock
  if command -v flock >/dev/null 2>&1 && mkdir -p /run/lock 2>/dev/null; then
    exec 9>>/run/lock/zyotra-storage-layer.lock || fail "could not open the lock file"
    flock -w 300 9 || fail "another deployment kept the machine busy for too long"
  fi

  step detect
  existing=1
  if ! server_installed; then
    existing=0
    step install
    apt-get update -q >&2 || fail "apt-get update failed"
    # Ubuntu ships mysql-server; Debian only MariaDB (default-mysql-server).
    if ! apt-get install -y -q mysql-server >&2 9>&-; then
      apt-get install -y -q default-mysql-server >&2 9>&- || fail "installing the MySQL server failed"
    fi
    server_installed || fail "the MySQL server is not installed after apt-get"
    mkdir -p /etc/mysql && : > "$ROOT_UNSET"
  fi
  [ -e "$ROOT_UNSET" ] && existing=0

  step start
  # The unit is looked up only when the server must be started or restarted: on a machine set
  # up before, neither happens.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    svc() {
      unit=mysql
      systemctl is-active --quiet mysql 9>&- || { systemctl is-active --quiet mariadb 9>&- && unit=mariadb; }
      systemctl "$1" "$unit" >&2 9>&- || { unit=mariadb; systemctl "$1" "$unit" >&2 9>&-; }
    }
  else
    svc() { service mysql "$1" >&2 9>&- || service mariadb "$1" >&2 9>&-; }
  fi
  if ! mysqladmin --protocol=socket -u root ping >/dev/null 2>&1; then
    svc start || fail "the MySQL server did not start"
    tries=0
    until mysqladmin --protocol=socket -u root ping >/dev/null 2>&1; do
      tries=$((tries + 1)); [ "$tries" -le 300 ] || fail "the MySQL server does not answer"
      sleep 0.1
    done
  fi
  facts=$(sql_b64 '${b64(serverFactsSql(spec.dbName, spec.userName))}') || fail "root cannot log in through the server's socket"
  flavour=mysql
  case "$facts" in *[Mm][Aa][Rr][Ii][Aa][Dd][Bb]*) flavour=mariadb ;; esac
  port=\${facts#* port=}; port=\${port%% *}
  bound=\${facts#* bind=}; bound=\${bound%% *}
  case "$port" in ''|*[!0-9]*) fail "could not read the server's port" ;; esac

  step root-password
  if [ "$existing" = 0 ]; then
    if [ "$flavour" = mariadb ]; then sql_b64 '${b64(rootSql.mariadb)}'; else sql_b64 '${b64(rootSql.mysql)}'; fi || fail "setting the root password failed"
    rm -f "$ROOT_UNSET"
  else
    # Over TCP, where socket authentication cannot vouch for us: only the password counts.
    mysql --defaults-extra-file=/dev/fd/3 --protocol=TCP -h 127.0.0.1 -P "$port" -u root -N -B -e 'SELECT 1' >/dev/null 2>&1 3< <(printf '%s' '${b64(clientPasswordOptions(spec.rootPassword))}' | base64 -d) ||
      refuse wrong-root-password
  fi

  step database
  checks=$facts
  case " $checks " in *" privileged=0 "*) ;; *) refuse privileged-user ;; esac
  case " $checks " in *" db=0 "*) ;; *) refuse foreign-database ;; esac
  ${spec.reuseExistingUser ? "" : `case " $checks " in *" user=0 "*) ;; *) refuse foreign-user ;; esac`}
  user_existed=0
  case " $checks " in *" user=0 "*) ;; *) user_existed=1 ;; esac
  # Marked before it is tried: CREATE USER of two accounts can fail half-way (or be done by the
  # server while the client reports a lost connection). The checks above, under the deploy lock,
  # found no user of that name, so whatever exists under it afterwards is this deploy's to drop.
  [ "$user_existed" = 1 ] || printf '@@CREATED user\\n'
  sql_b64 '${b64(createUserSql(spec))}' || fail "creating the user failed"
  # CREATE DATABASE alone is atomic: marked once done, so a database is never dropped on a guess.
  sql_b64 '${b64(createDatabaseSql(spec))}' || fail "creating the database failed"
  printf '@@CREATED database\\n'
  sql_b64 '${b64(grantSql(spec))}' || fail "granting the user its privileges failed"

  step remote-access
  dir=
  for candidate in /etc/mysql/mariadb.conf.d /etc/mysql/mysql.conf.d /etc/mysql/conf.d; do
    if [ -d "$candidate" ]; then dir=$candidate; break; fi
  done
  [ -n "$dir" ] || fail "no MySQL configuration directory found"
  wanted=$(printf '%s\\n[mysqld]\\nbind-address = 0.0.0.0\\n' "$MARK")
  [ "$flavour" = mysql ] && wanted=$(printf '%s\\nmysqlx-bind-address = 0.0.0.0\\n' "$wanted")
  if [ "$(cat "$dir/${REMOTE_ACCESS_FILE}" 2>/dev/null)" != "$wanted" ]; then
    printf '%s\\n' "$wanted" > "$dir/${REMOTE_ACCESS_FILE}" || fail "could not write the remote access configuration"
    chmod 644 "$dir/${REMOTE_ACCESS_FILE}"
  fi
  # The running server's address, read with the facts above (writing the file changes nothing until a restart).
  if [ "$bound" != 0.0.0.0 ]; then
    step restart
    svc restart || fail "the MySQL server did not restart"
    tries=0
    until mysqladmin --protocol=socket -u root ping >/dev/null 2>&1; do
      tries=$((tries + 1)); [ "$tries" -le 300 ] || fail "the MySQL server does not answer after the restart"
      sleep 0.1
    done
    [ "$(as_root -e 'SELECT @@bind_address')" = 0.0.0.0 ] || fail "bind-address is overridden by another configuration file"
    printf '@@RESULT restarted=1\\n'
  fi

  printf '@@RESULT existing=%s\\n' "$existing"
  printf '@@RESULT port=%s\\n' "$port"
}

main </dev/null
`;
}

// ---------------------------------------------------------------------------
// Backups: compressed mysqldump files under /var/backups/zyotra/mysql/<db>/ (dirs 0700, files
// 0600), written under a temporary name and renamed on success, like PostgreSQL's.
// ---------------------------------------------------------------------------

export const MYSQL_BACKUP_DIR = "/var/backups/zyotra/mysql";
const MYSQL_BACKUP_PATH = /^\/var\/backups\/zyotra\/mysql\/[A-Za-z_][A-Za-z0-9_]*\/[A-Za-z0-9_][A-Za-z0-9_.-]*\.sql\.gz$/;

/** Only paths of the shape this service writes are ever read, restored or removed. */
export function assertMySqlBackupPath(path: string): string {
  if (!MYSQL_BACKUP_PATH.test(path) || path.includes("..")) throw new Error("not a MySQL backup path of this service");
  return path;
}

const partialOf = (path: string) => path.replace(/\/([^/]+)$/, "/.$1.partial");

/**
 * `mysqldump --single-transaction --routines --triggers --events` of exactly one database (no
 * CREATE DATABASE/USE, so it restores under any name), as root through the socket, gzip-ed;
 * prints `@@RESULT size=` and `@@RESULT sha256=`, or `@@MISSING database` / `@@FAIL`.
 */
export function mysqlDumpScript(dbName: string, path: string): string {
  assertMySqlBackupPath(path);
  const dir = path.slice(0, path.lastIndexOf("/"));
  const exists = `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysqlLiteral(dbName)}`;
  return `set -u
set -o pipefail
export LC_ALL=C
cd / || exit 1
umask 077
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
[ "$(printf '%s' '${b64(exists)}' | base64 -d | mysql --protocol=socket -u root -N -B)" = 1 ] || { printf '@@MISSING database\\n'; exit 1; }
mkdir -p ${quoteShell(dir)} && chmod 0700 /var/backups/zyotra ${quoteShell(MYSQL_BACKUP_DIR)} ${quoteShell(dir)} || fail "could not create the backup directory"
tmp=${quoteShell(partialOf(path))}
trap 'rm -f "$tmp"' EXIT
mysqldump --protocol=socket -u root --single-transaction --routines --triggers --events --default-character-set=utf8mb4 ${quoteShell(dbName)} </dev/null | gzip -c > "$tmp" || fail "mysqldump failed"
size=$(stat -c %s "$tmp") && sum=$(sha256sum "$tmp") || fail "could not measure the dump"
mv -f "$tmp" ${quoteShell(path)} || fail "could not move the dump into place"
trap - EXIT
printf '@@RESULT size=%s\\n@@RESULT sha256=%s\\n' "$size" "\${sum%% *}"
`;
}

/**
 * Restores a dump into a NEW database (refused when it exists: `@@REFUSED foreign-database`)
 * that the backup's user gets all privileges on; checksum first; on failure the new database
 * is dropped again.
 */
export function mysqlRestoreScript(spec: { path: string; sha256: string; dbName: string; userName: string }): string {
  assertMySqlBackupPath(spec.path);
  if (!/^[0-9a-f]{64}$/.test(spec.sha256)) throw new Error("not a sha256");
  const db = mysqlIdent(spec.dbName);
  const user = mysqlLiteral(spec.userName);
  const exists = `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${mysqlLiteral(spec.dbName)}`;
  const create = `${SESSION_SQL}CREATE DATABASE ${db} CHARACTER SET utf8mb4;\nGRANT ALL PRIVILEGES ON ${db}.* TO ${user}@'%';\nGRANT ALL PRIVILEGES ON ${db}.* TO ${user}@'localhost';\n`;
  return `set -u
set -o pipefail
export LC_ALL=C
cd / || exit 1
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
as_root() { mysql --protocol=socket -u root --default-character-set=utf8mb4 -N -B "$@"; }
printf '%s  %s\\n' ${quoteShell(spec.sha256)} ${quoteShell(spec.path)} | sha256sum -c --status - || fail "the backup file does not match its recorded checksum"
[ "$(printf '%s' '${b64(exists)}' | base64 -d | as_root)" = 0 ] || { printf '@@REFUSED foreign-database\\n'; exit 1; }
printf '%s' '${b64(create)}' | base64 -d | as_root || fail "creating the database failed"
printf '@@CREATED database\\n'
if ! gzip -dc ${quoteShell(spec.path)} | as_root ${quoteShell(spec.dbName)}; then
  printf '%s' '${b64(mysqlDropSql({ dbName: spec.dbName }))}' | base64 -d | as_root
  fail "loading the dump failed"
fi
printf '@@RESULT restored=1\\n'
`;
}

/** Streams a backup file after checking it still has its recorded SHA-256 (else no byte, exit 3). */
export function readMySqlBackupScript(path: string, sha256: string): string {
  assertMySqlBackupPath(path);
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error("not a sha256");
  return `printf '%s  %s\\n' ${quoteShell(sha256)} ${quoteShell(path)} | sha256sum -c --status - 2>/dev/null || { printf '@@FAIL checksum\\n' >&2; exit 3; }
exec cat -- ${quoteShell(path)}
`;
}

/** Removes a backup file and its temporary twin; missing files are fine. */
export function removeMySqlBackupScript(path: string): string {
  assertMySqlBackupPath(path);
  return `rm -f -- ${quoteShell(path)} ${quoteShell(partialOf(path))}\n`;
}
