import { DEFAULT_MAX_MEMORY_MB, isValidRedisPort, redisConfigString, redisPaths } from "./redisRules";

/**
 * Every command and script the service runs on a VPS for Redis is built here, from a validated
 * instance name and port, so the whole remote surface can be reviewed in one file.
 *
 * - Scripts travel over the SSH channel's stdin (`bash -s`); a password inside one is embedded
 *   base64-encoded and decoded by a pipe, so no process argument list ever holds it. redis-cli
 *   reads it from REDISCLI_AUTH (never `-a`).
 * - Progress markers on stdout (`@@STEP`, `@@CREATED`, `@@REFUSED`, `@@FAIL`, `@@RESULT`) as in
 *   the PostgreSQL scripts (src/engines/postgres/scriptOutput.ts reads them); tool output goes to stderr.
 * - What a deploy creates carries its row id (a tag line in the config, a marker file in the data
 *   directory): removal deletes only what carries the id it is given.
 */

/** Why a deploy refused to touch the machine (the `@@REFUSED` marker's word). */
export const REDIS_DEPLOY_REFUSALS = ["port-busy", "name-taken"] as const;

export interface RedisInstanceSpec {
  /** The server's name: the systemd instance and part of its paths. */
  instance: string;
  port: number;
  /** The caching row; stamped on what the deploy creates. */
  deployId: number;
}

export interface RedisConfigSpec extends RedisInstanceSpec {
  password: string;
  maxMemoryMb?: number;
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

export function configTag(deployId: number): string {
  return `# zyotra-storage-layer caching ${deployId}`;
}

function checkSpec({ instance, port, deployId }: RedisInstanceSpec) {
  redisPaths(instance); // throws on an invalid name
  if (!isValidRedisPort(port)) throw new Error("invalid Redis port");
  if (!Number.isSafeInteger(deployId) || deployId < 1) throw new Error("invalid deploy id");
}

/** The server's redis.conf: what the issue asks for, for the Debian template unit. */
export function redisConfig(spec: RedisConfigSpec): string {
  checkSpec(spec);
  const paths = redisPaths(spec.instance);
  const maxMemoryMb = spec.maxMemoryMb ?? DEFAULT_MAX_MEMORY_MB;
  return [
    configTag(spec.deployId),
    `# Redis server ${spec.instance}, managed by the Zyotra Storage Layer: changes here may be lost.`,
    `port ${spec.port}`,
    "bind 0.0.0.0 -::*",
    "protected-mode yes",
    `requirepass ${redisConfigString(spec.password)}`,
    `dir ${paths.dataDir}`,
    "dbfilename dump.rdb",
    "appendonly yes",
    "supervised systemd",
    "daemonize no",
    `pidfile ${paths.runDir}/redis-server.pid`,
    `logfile ${paths.log}`,
    `maxmemory ${maxMemoryMb}mb`,
    "maxmemory-policy noeviction",
    "",
  ].join("\n");
}

/** Shell prelude: markers, the machine-wide lock, a LISTEN check without depending on ss. */
function prelude(spec: RedisInstanceSpec): string {
  const paths = redisPaths(spec.instance);
  return `set -u
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
UNIT='${paths.unit}' CONF='${paths.config}' DATA='${paths.dataDir}' LOG='${paths.log}' PORT=${spec.port} DEPLOY_ID=${spec.deployId}
TAG='${configTag(spec.deployId)}'
step() { printf '@@STEP %s\\n' "$1"; }
fail() { printf '@@FAIL %s\\n' "$1"; exit 1; }
refuse() { printf '@@REFUSED %s\\n' "$1"; exit 1; }
# True when something listens on TCP port $1 (IPv4 or IPv6).
port_busy() {
  awk -v want="$(printf ':%04X' "$1")" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == want { found = 1 } END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
lock() {
  # Serialises changes when several requests reach one machine at once. Commands that may leave
  # a daemon running get "9>&-" so it never inherits (and holds) the lock.
  if command -v flock >/dev/null 2>&1 && mkdir -p /run/lock 2>/dev/null; then
    exec 9>>/run/lock/zyotra-storage-layer.lock || fail "could not open the lock file"
    flock -w 300 9 || fail "another deployment kept the machine busy for too long"
  fi
}
have_systemd() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
# Waits (bounded) until the server answers PING with the password from REDISCLI_AUTH.
answers_ping() {
  local tries=0
  until [ "$(redis-cli --no-auth-warning -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; do
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || return 1
    sleep 0.1
  done
}
# Waits (bounded) until nothing listens on the port any more.
port_released() {
  local tries=0
  while port_busy "$PORT"; do
    tries=$((tries + 1))
    [ "$tries" -le 300 ] || return 1
    sleep 0.1
  done
}
`;
}

/**
 * Installs redis-server when missing, checks that port and name are free, writes the config
 * (0640 redis:redis, through a private temp file), creates the data directory, enables and starts
 * `redis-server@<instance>` and waits until it answers PING with the password.
 */
export function redisDeployScript(spec: RedisConfigSpec): string {
  const config = redisConfig(spec);
  return `${prelude(spec)}
main() {
  cd /
  step lock
  lock
  step detect
  if ! redis-server --version >/dev/null 2>&1; then
    step install
    apt-get update -q >&2 || fail "apt-get update failed"
    apt-get install -y -q redis-server >&2 9>&- || fail "apt-get install redis-server failed"
    redis-server --version >/dev/null 2>&1 || fail "redis-server is not installed"
  fi
  have_systemd || fail "the machine does not run systemd"
  id redis >/dev/null 2>&1 || fail "the redis user does not exist"

  step check
  if port_busy "$PORT"; then refuse port-busy; fi
  if [ -e "$CONF" ] || [ -L "$CONF" ] || [ -e "$DATA" ] || [ -L "$DATA" ]; then refuse name-taken; fi
  if systemctl is-active --quiet "$UNIT" 2>/dev/null; then refuse name-taken; fi

  step files
  # The package's directories, created as the package would only if someone removed them; never re-owned.
  [ -d /var/lib/redis ] || install -d -o redis -g redis -m 750 /var/lib/redis || fail "could not create /var/lib/redis"
  [ -d /var/log/redis ] || install -d -o redis -g adm -m 2750 /var/log/redis || fail "could not create /var/log/redis"
  mkdir -m 750 "$DATA" || fail "could not create the data directory"
  (umask 027 && printf '%s\\n' "$DEPLOY_ID" > "$DATA/.zyotra-deploy") && chown -R redis:redis "$DATA" || fail "could not prepare the data directory"
  printf '@@CREATED data\\n'
  tmp=$(mktemp /etc/redis/.zyotra-XXXXXXXX) || fail "could not create a file in /etc/redis"
  printf '%s' '${b64(config)}' | base64 -d > "$tmp" && chown redis:redis "$tmp" && chmod 0640 "$tmp" || { rm -f "$tmp"; fail "could not write the configuration"; }
  mv -n "$tmp" "$CONF" && [ ! -e "$tmp" ] || { rm -f "$tmp"; refuse name-taken; }
  printf '@@CREATED config\\n'

  step start
  systemctl enable --now "$UNIT" >&2 9>&- || fail "$UNIT did not start"
  printf '@@CREATED unit\\n'

  step verify
  REDISCLI_AUTH=$(printf '%s' '${b64(spec.password)}' | base64 -d)
  export REDISCLI_AUTH
  answers_ping || fail "the server does not answer PING"
  printf '@@RESULT port=%s\\n' "$PORT"
}
main </dev/null
`;
}

/**
 * Stops and disables the unit and removes the config, data directory and log: each only when it
 * carries this row's id (a config tag line, a data marker file). Safe to repeat; used for rollback,
 * for deploys interrupted by a crash, and for delete.
 */
export function redisRemoveScript(spec: RedisInstanceSpec): string {
  return `${prelude(spec)}
main() {
  cd /
  step lock
  lock
  step inspect
  ours_conf= ours_data=
  if [ -f "$CONF" ] && [ ! -L "$CONF" ] && grep -qxF "$TAG" "$CONF"; then ours_conf=1; fi
  if [ -d "$DATA" ] && [ ! -L "$DATA" ] && [ "$(cat "$DATA/.zyotra-deploy" 2>/dev/null)" = "$DEPLOY_ID" ]; then ours_data=1; fi
  if [ -n "$ours_conf" ] || { [ -n "$ours_data" ] && [ ! -e "$CONF" ]; }; then
    step stop
    if have_systemd; then
      systemctl disable --now "$UNIT" >&2 9>&- || fail "could not stop and disable $UNIT"
      if systemctl is-active --quiet "$UNIT" 2>/dev/null; then fail "$UNIT is still running"; fi
    fi
  fi
  step remove
  if [ -n "$ours_conf" ]; then rm -f -- "$CONF" || fail "could not remove the configuration"; fi
  if [ -n "$ours_data" ]; then rm -rf --one-file-system -- "$DATA" || fail "could not remove the data directory"; fi
  if [ -n "$ours_conf" ] || [ -n "$ours_data" ]; then rm -f -- "$LOG" || fail "could not remove the log"; fi
  printf '@@RESULT removed=%s\\n' "\${ours_conf:+config}\${ours_data:+,data}"
}
main </dev/null
`;
}

/** Stops the unit and waits until nothing listens on the port. Stopping a stopped server is fine. */
export function redisStopScript(spec: RedisInstanceSpec): string {
  return `${prelude(spec)}
main() {
  cd /
  step stop
  have_systemd || fail "the machine does not run systemd"
  [ -f "$CONF" ] || fail "the configuration $CONF is missing"
  systemctl stop "$UNIT" >&2 || fail "systemctl stop $UNIT failed"
  step verify
  if systemctl is-active --quiet "$UNIT" 2>/dev/null; then fail "$UNIT is still active"; fi
  port_released || fail "something still listens on port $PORT"
  printf '@@RESULT stopped=1\\n'
}
main </dev/null
`;
}

/** Starts the unit (a no-op when it runs) and waits until it answers PING with the password. */
export function redisStartScript(spec: RedisInstanceSpec & { password: string }): string {
  return `${prelude(spec)}
main() {
  cd /
  step start
  have_systemd || fail "the machine does not run systemd"
  [ -f "$CONF" ] || fail "the configuration $CONF is missing"
  systemctl reset-failed "$UNIT" >/dev/null 2>&1
  systemctl start "$UNIT" >&2 || fail "systemctl start $UNIT failed"
  step verify
  REDISCLI_AUTH=$(printf '%s' '${b64(spec.password)}' | base64 -d)
  export REDISCLI_AUTH
  answers_ping || fail "the server does not answer PING"
  printf '@@RESULT started=1\\n'
}
main </dev/null
`;
}

/** Prints the kernel's TCP socket tables; parseListeningPorts reads the LISTEN entries. */
export const LISTENING_SOCKETS_COMMAND = "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; true";
