import { describe, expect, test } from "bun:test";
import { parseListeningPorts } from "../../src/engines/redis/listeningPorts";
import { redisConfig, redisDeployScript, redisRemoveScript, redisStartScript } from "../../src/engines/redis/remoteScripts";
import { isReservedRedisName, isValidRedisName, redisConfigString, redisPaths } from "../../src/engines/redis/redisRules";

const spec = { instance: "my-cache", port: 6380, deployId: 12, password: `p"a$(id)'\\x` };

describe("Redis rules", () => {
  test("names: lower-case letters, digits and hyphens, starting with a letter, at most 40, no system names", () => {
    for (const good of ["my-cache", "a", "cache-2", "a".repeat(40)]) expect(isValidRedisName(good)).toBe(true);
    for (const bad of ["My", "1a", "-a", "a-", "a_b", "a/b", "../x", "a".repeat(41), "a b", ""]) expect(isValidRedisName(bad)).toBe(false);
    for (const reserved of ["redis", "redis-server", "mysql", "postgresql", "sentinel", "appendonlydir"]) expect(isReservedRedisName(reserved)).toBe(true);
    expect(isReservedRedisName("my-cache")).toBe(false);
    expect(() => redisPaths("../etc")).toThrow();
  });

  test("the password is one double-quoted config string: every byte but letters and digits is \\xHH", () => {
    expect(redisConfigString(`ab"c\\ $()\n`)).toBe('"ab\\x22c\\x5c\\x20\\x24\\x28\\x29\\x0a"');
  });

  test("the config has every directive the issue lists, the tag, and the password only escaped", () => {
    const config = redisConfig(spec);
    for (const line of [
      "# zyotra-storage-layer caching 12",
      "port 6380",
      "bind 0.0.0.0 -::*",
      "protected-mode yes",
      "dir /var/lib/redis/my-cache",
      "appendonly yes",
      "supervised systemd",
      "maxmemory 256mb",
      "maxmemory-policy noeviction",
      "logfile /var/log/redis/redis-server-my-cache.log",
    ]) {
      expect(config.split("\n")).toContain(line);
    }
    expect(config).toContain('requirepass "p\\x22a\\x24\\x28id\\x29\\x27\\x5cx"');
    expect(redisConfig({ ...spec, maxMemoryMb: 64 })).toContain("maxmemory 64mb\n");
  });

  test("scripts never hold the password in clear, and never pass it with -a", () => {
    for (const script of [redisDeployScript(spec), redisStartScript(spec), redisRemoveScript(spec)]) {
      expect(script).not.toContain(spec.password);
      expect(script).not.toMatch(/redis-cli[^\n]* -a /);
    }
    expect(redisDeployScript(spec)).toContain("REDISCLI_AUTH");
  });

  test("listening ports come from /proc/net/tcp{,6} LISTEN entries only, ascending, deduplicated", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 1 1",
      "   1: 0200D90A:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1",
      "   2: 0200D90A:0016 0100D90A:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1",
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 4 1",
    ].join("\n");
    expect(parseListeningPorts(text)).toEqual([22, 6379]);
  });
});
