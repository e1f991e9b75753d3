/**
 * What a Redis server's name, port and password may be. The name becomes a systemd instance
 * (`redis-server@<name>`) and part of paths under /etc/redis, /var/lib/redis and /var/log/redis,
 * so it is restricted to what is safe in all three without quoting.
 */
export const REDIS_NAME_PATTERN = "^[a-z][a-z0-9-]{0,39}$";
export const REDIS_NAME_MAX = 40;

/** Printable ASCII without the space: written escaped into the config, never raw. */
export const REDIS_PASSWORD_PATTERN = "^[\\x21-\\x7E]{8,512}$";

export const REDIS_PORT_MIN = 1024;
export const REDIS_PORT_MAX = 65535;

export const DEFAULT_MAX_MEMORY_MB = 256;

/**
 * Names of system services and of what lives next to our files (the package's own config,
 * the sentinel's, the package's data files): such a name would take over or wipe them.
 */
const RESERVED_NAMES = new Set([
  "redis",
  "redis-server",
  "redis-sentinel",
  "sentinel",
  "server",
  "valkey",
  "keydb",
  "memcached",
  "mysql",
  "mariadb",
  "postgres",
  "postgresql",
  "mongodb",
  "mongod",
  "appendonlydir",
  "dump",
  "root",
  "default",
  "system",
  "systemd",
  "ssh",
  "sshd",
  "nginx",
  "apache2",
  "docker",
  "lib",
  "log",
  "run",
  "tmp",
  "var",
  "etc",
]);

export function isReservedRedisName(name: string): boolean {
  return RESERVED_NAMES.has(name) || name.startsWith("zyotra");
}

export function isValidRedisName(name: string): boolean {
  return new RegExp(REDIS_NAME_PATTERN).test(name) && !name.endsWith("-");
}

export function isValidRedisPort(port: number): boolean {
  return Number.isInteger(port) && port >= REDIS_PORT_MIN && port <= REDIS_PORT_MAX;
}

/**
 * A double-quoted Redis config string where every byte but letters and digits is `\xHH`:
 * nothing in the password can end the string, start a directive or need further escaping.
 */
export function redisConfigString(value: string): string {
  let out = '"';
  for (const byte of Buffer.from(value, "utf8")) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9]/.test(char) ? char : `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `${out}"`;
}

/** Where a server's files live; the only paths this service ever creates or removes for it. */
export function redisPaths(instance: string) {
  if (!isValidRedisName(instance)) throw new Error("invalid Redis instance name");
  return {
    unit: `redis-server@${instance}`,
    config: `/etc/redis/redis-${instance}.conf`,
    dataDir: `/var/lib/redis/${instance}`,
    log: `/var/log/redis/redis-server-${instance}.log`,
    runDir: `/run/redis-${instance}`,
  };
}
