/**
 * Throwaway "VPS" for end-to-end tests of the storage layer.
 *
 * A sandbox is a network namespace reachable from the host over a veth pair,
 * plus a private mount namespace in which sshd, PostgreSQL and stand-ins for
 * apt-get/systemctl see their own /etc/postgresql, /var/lib/postgresql,
 * /var/log/postgresql, /run, /dev/shm, /usr/local/sbin and /etc/shadow. The
 * code under test talks to it exactly like to a real server: SSH as root
 * with a password on <ip>:22. Nothing on the host (its shadow file, its /run,
 * its PostgreSQL cluster, its sshd) is modified.
 *
 * Must run as root on Linux with iproute2, util-linux, openssh-server,
 * sudo, Debian's postgresql-15 + postgresql-common and mariadb-server installed.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";

export type PostgresState = "absent" | "no-cluster" | "stopped" | "running";

export type MysqlState = "absent" | "stopped" | "running";

export interface SandboxOptions {
  /** What the VPS has at start. */
  postgres: PostgresState;
  /** The MySQL server at start (the host's MariaDB in private dirs). Default "absent". */
  mysql?: MysqlState;
  /** The stand-in apt-get offers `mysql-server` (an Ubuntu-like machine). Default false (Debian). */
  aptHasMysqlServer?: boolean;
  /** Pretend systemd is PID 1 (creates /run/systemd/system + stand-in systemctl). Default false. */
  systemd?: boolean;
  /** Root's SSH password. Default: random. */
  rootPassword?: string;
  /** An OpenSSH public key line root may log in with (public-key login is off without it). */
  authorizedKey?: string;
  /**
   * The PostgreSQL 15 clusters of a "stopped" or "running" VPS, created in this order.
   * Default: one cluster `main` on 5432.
   */
  clusters?: Array<{ name: string; port: number }>;
  /**
   * Debian's redis-server (needs `systemd`): "installed" runs the package's own instance on
   * 127.0.0.1:6379; "absent" hides the binaries until apt-get installs them. Default: untouched.
   */
  redis?: "absent" | "installed";
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface SandboxVps {
  /** Network namespace name (also names the temp dir and the veth). */
  readonly name: string;
  /** The VPS's address; sshd listens here on port 22. */
  readonly ip: string;
  /** The host side of the veth. */
  readonly hostIp: string;
  readonly rootPassword: string;
  /** Runs `bash -c command` as root inside the VPS's namespaces. */
  exec(command: string, stdin?: string): Promise<CommandOutput>;
  /** One entry per stand-in apt-get invocation (argv joined by spaces). */
  aptCalls(): Promise<string[]>;
  /** One entry per stand-in systemctl invocation (argv joined by spaces). */
  systemctlCalls(): Promise<string[]>;
  /** When true the stand-in systemctl exits 1 for start/restart/reload. */
  setServiceManagerFailing(failing: boolean): Promise<void>;
  /** Makes the stand-in systemctl sleep this long before each restart (0 to stop). */
  setServiceManagerDelay(seconds: number): Promise<void>;
  /**
   * Puts an executable script named `tool` first on the VPS's PATH (as /usr/local/sbin/tool),
   * shadowing the real one for SSH commands and sudo; undefined removes it. Lets a test make
   * the machine behave like a hostile one (e.g. a `sudo` that floods its output).
   */
  setStandIn(tool: string, script: string | undefined): Promise<void>;
  /** Live sshd per-connection processes (children of the listener). */
  sshSessionCount(): Promise<number>;
  /** Idempotent; kills the VPS's processes and removes everything. */
  stop(): Promise<void>;
}

const PREFIX = "zsl-";
const TEMP_BASE = "/tmp/zsl-sandbox";
const SUBNET_DIR = join(TEMP_BASE, ".subnets");
const SCRIPT_DIR = join(import.meta.dir, "vps");
/** Debian's sshd gives root this PATH; exec() mirrors it so both see the stand-ins first. */
const ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Startup includes initdb for "stopped"/"running", hence more than sshd's own start time. */
const READY_POLL_INTERVAL_MS = 100;
const READY_POLL_ATTEMPTS = 900;
const READY_TIMEOUT_MS = 90_000; // MariaDB initialisation (mysql: "stopped" | "running") is slow on a busy machine
const CONNECT_PROBE_TIMEOUT_MS = 500;
const COMMAND_TIMEOUT_MS = 30_000;
const EXEC_TIMEOUT_MS = 120_000;
const KILL_POLL_INTERVAL_MS = 50;
const KILL_POLL_ATTEMPTS = 100;
const REAP_WAIT_MS = 2_000;

// ---------------------------------------------------------------------------
// Running host commands
// ---------------------------------------------------------------------------

interface RunOptions {
  stdin?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** A minimal, predictable environment: nothing from the test runner leaks into the VPS. */
function baseEnv(): Record<string, string> {
  return { PATH: ROOT_PATH, HOME: "/root", LANG: "C.UTF-8", USER: "root", LOGNAME: "root", SHELL: "/bin/bash" };
}

/** Runs argv (never through a shell) and collects its output; kills it after the timeout. */
async function run(argv: string[], options: RunOptions = {}): Promise<CommandOutput> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const proc = Bun.spawn(argv, {
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: options.env ?? baseEnv(),
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  try {
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (timedOut) throw new Error(`timed out after ${timeoutMs} ms: ${argv.join(" ")}`);
    return { stdout, stderr, exitCode };
  } finally {
    clearTimeout(timer);
  }
}

/** Like run() but a non-zero exit is an error carrying the command's stderr. */
async function runOk(argv: string[], options: RunOptions = {}): Promise<string> {
  const result = await run(argv, options);
  if (result.exitCode !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.exitCode}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Synchronous variant for teardown, which must also work inside process 'exit' hooks. */
function runSync(argv: string[]): CommandOutput {
  const result = Bun.spawnSync(argv, { stdin: "ignore", env: baseEnv(), timeout: COMMAND_TIMEOUT_MS });
  return { stdout: result.stdout.toString(), stderr: result.stderr.toString(), exitCode: result.exitCode ?? -1 };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for `promise` at most `ms`; the timer is cleared so it never holds the process open. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// Ownership: tells live sandboxes of other test processes apart from leftovers
// ---------------------------------------------------------------------------

interface Owner {
  pid: number;
  startTime: string;
}

/** Field 22 of /proc/PID/stat; together with the pid it survives pid reuse. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

function currentOwner(): Owner {
  return { pid: process.pid, startTime: processStartTime(process.pid) ?? "" };
}

function isOwnerAlive(root: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(join(root, "owner.json"), "utf8")) as Owner;
    return processStartTime(owner.pid) === owner.startTime;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------

interface Network {
  ip: string;
  hostIp: string;
}

/** Third octets of every 10.217.x.y address already configured on the host. */
async function subnetsInUse(): Promise<Set<number>> {
  const out = await runOk(["ip", "-4", "-o", "addr", "show"]);
  const used = new Set<number>();
  for (const match of out.matchAll(/\b10\.217\.(\d{1,3})\./g)) used.add(Number(match[1]));
  return used;
}

function shuffled(values: number[]): number[] {
  const copy = [...values];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as number, copy[i] as number];
  }
  return copy;
}

/**
 * Claims 10.217.N.0/30 for `name`. The host's address list alone is racy when
 * several sandboxes start at once (even from different processes), so the
 * claim is an atomically created symlink SUBNET_DIR/N -> name.
 */
async function reserveSubnet(name: string): Promise<number> {
  mkdirSync(SUBNET_DIR, { recursive: true, mode: 0o700 });
  const used = await subnetsInUse();
  const candidates = shuffled(Array.from({ length: 254 }, (_, i) => i + 1).filter((n) => !used.has(n)));
  for (const n of candidates) {
    const claim = join(SUBNET_DIR, String(n));
    releaseSubnetIfStale(claim);
    try {
      symlinkSync(name, claim);
      return n;
    } catch {
      // claimed by another live sandbox; try the next one
    }
  }
  throw new Error("no free 10.217.N.0/30 subnet for a sandbox VPS");
}

/** A claim is stale once the sandbox it names has no temp dir any more. */
function releaseSubnetIfStale(claim: string): void {
  try {
    if (!existsSync(join(TEMP_BASE, readlinkSync(claim)))) unlinkSync(claim);
  } catch {
    // no claim, or it vanished concurrently
  }
}

function releaseSubnetsOf(name: string): void {
  if (!existsSync(SUBNET_DIR)) return;
  for (const entry of readdirSync(SUBNET_DIR)) {
    const claim = join(SUBNET_DIR, entry);
    try {
      if (readlinkSync(claim) === name) unlinkSync(claim);
    } catch {
      // already gone
    }
  }
}

async function createNetwork(name: string): Promise<Network> {
  const subnet = await reserveSubnet(name);
  const hostVeth = `${name}-h`;
  const peer = `${name}-v`;
  const hostIp = `10.217.${subnet}.1`;
  const ip = `10.217.${subnet}.2`;
  const steps: string[][] = [
    ["ip", "netns", "add", name],
    ["ip", "link", "add", hostVeth, "type", "veth", "peer", "name", peer],
    ["ip", "link", "set", peer, "netns", name],
    // Inside, the VPS just sees a normal eth0.
    ["ip", "-n", name, "link", "set", peer, "name", "eth0"],
    ["ip", "addr", "add", `${hostIp}/30`, "dev", hostVeth],
    ["ip", "link", "set", hostVeth, "up"],
    ["ip", "-n", name, "addr", "add", `${ip}/30`, "dev", "eth0"],
    ["ip", "-n", name, "link", "set", "eth0", "up"],
    // PostgreSQL's default listen address and pg_createcluster's port probe need loopback.
    ["ip", "-n", name, "link", "set", "lo", "up"],
  ];
  for (const step of steps) await runOk(step);
  return { ip, hostIp };
}

// ---------------------------------------------------------------------------
// Temp root: everything the VPS's private mounts are bound to
// ---------------------------------------------------------------------------

async function hashPassword(password: string): Promise<string> {
  // Via stdin so the password never shows up in `ps`.
  return (await runOk(["openssl", "passwd", "-6", "-stdin"], { stdin: `${password}\n` })).trim();
}

/** Copy of the host's /etc/shadow where only root's hash differs, with the same owner and mode. */
async function writeShadow(root: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  const lines = readFileSync("/etc/shadow", "utf8").split("\n");
  const rootIndex = lines.findIndex((line) => line.startsWith("root:"));
  if (rootIndex < 0) throw new Error("/etc/shadow has no root entry");
  const fields = (lines[rootIndex] as string).split(":");
  fields[1] = hash;
  lines[rootIndex] = fields.join(":");
  const target = join(root, "shadow");
  const original = statSync("/etc/shadow");
  writeFileSync(target, lines.join("\n"), { mode: 0o600 });
  chownSync(target, original.uid, original.gid);
  chmodSync(target, original.mode & 0o777);
}

/** Where setup.sh binds the temp root inside the VPS (whose /tmp is private). */
const IN_VPS_ROOT = "/run/zsl-sandbox";

function sshdConfig(ip: string, withPublicKey: boolean): string {
  return [
    `ListenAddress ${ip}`,
    "Port 22",
    `HostKey ${IN_VPS_ROOT}/ssh_host_ed25519_key`,
    `PidFile ${IN_VPS_ROOT}/sshd.pid`,
    "PermitRootLogin yes",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    ...(withPublicKey
      ? ["PubkeyAuthentication yes", `AuthorizedKeysFile ${IN_VPS_ROOT}/authorized_keys`, "StrictModes no"]
      : ["PubkeyAuthentication no"]),
    "UsePAM no",
    "PrintMotd no",
    "PrintLastLog no",
    "UseDNS no",
    "Subsystem sftp /usr/lib/openssh/sftp-server",
    "",
  ].join("\n");
}

type ResolvedOptions = Required<Omit<SandboxOptions, "redis">> & { redis: SandboxOptions["redis"] | "" };

function installStandIn(root: string, tool: "apt-get" | "systemctl" | "zsl-mysqld"): void {
  const target = join(root, "sbin", tool);
  copyFileSync(join(SCRIPT_DIR, tool), target);
  chmodSync(target, 0o755);
}

async function prepareRoot(root: string, ip: string, options: ResolvedOptions): Promise<void> {
  for (const dir of ["etc-postgresql", "var-lib-postgresql", "var-log-postgresql", "sbin", "state"]) {
    mkdirSync(join(root, dir), { mode: 0o755 });
  }
  // MySQL (see setup.sh and vps/zsl-mysqld).
  for (const dir of ["etc-mysql", "var-lib-mysql", "var-log-mysql"]) mkdirSync(join(root, dir), { mode: 0o755 });
  installStandIn(root, "zsl-mysqld");
  if (options.aptHasMysqlServer) writeFileSync(join(root, "state", "apt.has-mysql-server"), "");
  installStandIn(root, "apt-get");
  // Without systemd there must be no systemctl in /usr/local/sbin: the code
  // under test decides by `[ -d /run/systemd/system ]`, like a real host would.
  if (options.systemd) installStandIn(root, "systemctl");
  if (options.redis) prepareRedis(root);
  await writeShadow(root, options.rootPassword);
  writeFileSync(join(root, "sshd_config"), sshdConfig(ip, options.authorizedKey !== ""));
  if (options.authorizedKey) writeFileSync(join(root, "authorized_keys"), options.authorizedKey.trim() + "\n", { mode: 0o600 });
  const keyPath = join(root, "ssh_host_ed25519_key");
  await runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "zsl-sandbox", "-f", keyPath]);
}

/** Private /etc/redis, /var/lib/redis, /var/log/redis and the stand-in's Redis unit runner. */
function prepareRedis(root: string): void {
  for (const dir of ["etc-redis", "var-lib-redis", "var-log-redis"]) mkdirSync(join(root, dir), { mode: 0o755 });
  writeFileSync(join(root, "not-installed"), "", { mode: 0o644 });
  const runner = join(root, "sbin", "zsl-redis-units");
  copyFileSync(join(SCRIPT_DIR, "redis-units"), runner);
  chmodSync(runner, 0o755);
}

// ---------------------------------------------------------------------------
// Starting the VPS
// ---------------------------------------------------------------------------

function canConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once("connect", () => finish(true));
    socket.once("error", () => finish(false));
  });
}

function readLog(root: string): string {
  try {
    return readFileSync(join(root, "setup.log"), "utf8").trim();
  } catch {
    return "(no log)";
  }
}

/**
 * Starts setup.sh in the netns plus fresh mount and IPC namespaces; it mounts
 * the VPS's private view and execs sshd. Its output goes to a file rather than
 * a pipe so a chatty sshd can never block on a pipe nobody drains.
 */
function spawnVps(name: string, root: string, options: ResolvedOptions): Bun.Subprocess {
  const logFd = openSync(join(root, "setup.log"), "a");
  try {
    const proc = Bun.spawn(
      [
        "ip", "netns", "exec", name,
        "unshare", "--mount", "--ipc", "--propagation", "private", "--",
        join(SCRIPT_DIR, "setup.sh"), root, options.postgres, options.systemd ? "1" : "0",
        options.clusters.map(({ name, port }) => `${name}:${port}`).join(","), options.mysql, options.redis || "none",
      ],
      { stdin: "ignore", stdout: logFd, stderr: logFd, env: baseEnv() },
    );
    // The VPS must not keep the test runner alive; stop()/exit hooks end it.
    proc.unref();
    return proc;
  } finally {
    closeSync(logFd);
  }
}

/** Polls (bounded) until sshd accepts TCP connections; fails early if setup.sh died. */
async function waitForSshd(proc: Bun.Subprocess, root: string, ip: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let attempt = 0; attempt < READY_POLL_ATTEMPTS && Date.now() < deadline; attempt++) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`sandbox VPS exited during startup (code ${proc.exitCode ?? proc.signalCode}):\n${readLog(root)}`);
    }
    if (await canConnect(ip, 22, CONNECT_PROBE_TIMEOUT_MS)) return;
    await sleep(READY_POLL_INTERVAL_MS);
  }
  throw new Error(`sshd in sandbox VPS did not accept connections on ${ip}:22:\n${readLog(root)}`);
}

/** sshd's own pid, the anchor for nsenter. The pid file is authoritative; the spawn pid is the same process (every step execs). */
function sshdPid(root: string, fallback: number): number {
  try {
    const pid = Number(readFileSync(join(root, "sshd.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : fallback;
  } catch {
    return fallback;
  }
}

// ---------------------------------------------------------------------------
// Teardown (synchronous so the same code serves stop(), exit hooks and stale cleanup)
// ---------------------------------------------------------------------------

function namespacePids(name: string): number[] {
  const out = runSync(["ip", "netns", "pids", name]);
  if (out.exitCode !== 0) return [];
  return out.stdout.split(/\s+/).filter(Boolean).map(Number);
}

/**
 * SIGKILL is enough: everything the VPS writes lives in its temp dir, its
 * /dev/shm tmpfs and its IPC namespace, which all die with it.
 */
function killNamespaceProcesses(name: string): void {
  for (let attempt = 0; attempt < KILL_POLL_ATTEMPTS; attempt++) {
    const pids = namespacePids(name);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already exited
      }
    }
    Bun.sleepSync(KILL_POLL_INTERVAL_MS);
  }
}

/** Mount points in the host's namespace that involve a sandbox (normally only /run/netns/NAME). */
function hostMountsMatching(fragment: string): string[] {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  return mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mountPoint) => mountPoint.includes(fragment))
    .reverse(); // innermost last-mounted first
}

function unmountAll(fragment: string): void {
  for (const mountPoint of hostMountsMatching(fragment)) runSync(["umount", "-l", mountPoint]);
}

function deleteLink(link: string): void {
  if (runSync(["ip", "link", "show", link]).exitCode === 0) runSync(["ip", "link", "delete", link]);
}

function removeTempRoot(root: string): void {
  unmountAll(root);
  // Never recurse into something still mounted: it could be a host directory.
  if (hostMountsMatching(root).length > 0) throw new Error(`refusing to delete ${root}: still mounted`);
  // Processes of the VPS that are still dying can hold its mount namespace (and so its mount
  // points inside root) for a moment: retry, bounded.
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      rmSync(root, { recursive: true, force: true });
    } catch {
      // busy for now
    }
    if (!existsSync(root)) return;
    Bun.sleepSync(50);
  }
}

function teardown(name: string): void {
  killNamespaceProcesses(name);
  runSync(["ip", "netns", "delete", name]);
  unmountAll(`/run/netns/${name}`);
  // The veth normally dies with the namespace; a half-built one may not.
  deleteLink(`${name}-h`);
  deleteLink(`${name}-v`);
  removeTempRoot(join(TEMP_BASE, name));
  releaseSubnetsOf(name);
}

// ---------------------------------------------------------------------------
// Process-exit safety net
// ---------------------------------------------------------------------------

const liveSandboxes = new Map<string, VpsHandle>();
let hooksInstalled = false;

function stopAllSync(): void {
  for (const vps of liveSandboxes.values()) {
    try {
      vps.stopSync();
    } catch (error) {
      // Keep going: the other sandboxes still deserve their cleanup.
      console.error(`sandbox VPS ${vps.name}: cleanup failed:`, error);
    }
  }
}

/** Best effort: a crash that skips these is handled by removeStaleSandboxes(). */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", stopAllSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      stopAllSync();
      // Re-raise with default handling so the process still dies by the signal.
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------

class VpsHandle implements SandboxVps {
  private stopped = false;

  constructor(
    readonly name: string,
    readonly ip: string,
    readonly hostIp: string,
    readonly rootPassword: string,
    private readonly root: string,
    private readonly pid: number,
    private readonly child: Bun.Subprocess,
  ) {}

  async exec(command: string, stdin?: string): Promise<CommandOutput> {
    // After stop() the pid may already belong to an unrelated process.
    if (this.stopped) throw new Error(`sandbox VPS ${this.name} is stopped`);
    // --ipc too, so a postgres started from here shares the VPS's SysV IPC namespace.
    const argv = ["nsenter", "--target", String(this.pid), "--net", "--mount", "--ipc", "--", "/bin/bash", "-c", command];
    return run(argv, { stdin, timeoutMs: EXEC_TIMEOUT_MS });
  }

  async aptCalls(): Promise<string[]> {
    return this.readCalls("apt-get.calls");
  }

  async systemctlCalls(): Promise<string[]> {
    return this.readCalls("systemctl.calls");
  }

  async setServiceManagerFailing(failing: boolean): Promise<void> {
    const flag = join(this.root, "state", "systemctl.failing");
    if (failing) writeFileSync(flag, "");
    else rmSync(flag, { force: true });
  }

  async setServiceManagerDelay(seconds: number): Promise<void> {
    const flag = join(this.root, "state", "systemctl.delay");
    if (seconds > 0) writeFileSync(flag, String(seconds));
    else rmSync(flag, { force: true });
  }

  async setStandIn(tool: string, script: string | undefined): Promise<void> {
    // The permanent stand-ins (apt-get, systemctl) are not a test's to replace.
    if (!/^[a-z][a-z0-9._-]*$/.test(tool) || tool === "apt-get" || tool === "systemctl") throw new Error(`no stand-in for ${tool}`);
    const target = join(this.root, "sbin", tool);
    if (script === undefined) {
      rmSync(target, { force: true });
      return;
    }
    writeFileSync(target, script, { mode: 0o755 });
    chmodSync(target, 0o755);
  }

  async sshSessionCount(): Promise<number> {
    if (this.stopped) return 0;
    // Each connection is one forked child of the listener (the privileged
    // monitor); its own unprivileged child is not counted again.
    return childPids(this.pid).filter((pid) => processName(pid) === "sshd").length;
  }

  async stop(): Promise<void> {
    this.stopSync();
    // Let Bun reap sshd (our direct child) so no zombie outlives the test.
    await withTimeout(this.child.exited, REAP_WAIT_MS);
  }

  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    liveSandboxes.delete(this.name);
    teardown(this.name);
  }

  private readCalls(file: string): string[] {
    const path = join(this.root, "state", file);
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8").split("\n").filter((line) => line.length > 0);
  }
}

function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Children by parent pid from /proc/PID/stat (works without CONFIG_PROC_CHILDREN). */
function childPids(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parent) children.push(Number(entry));
    } catch {
      // exited while scanning
    }
  }
  return children;
}

// ---------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------

function newName(): string {
  for (let attempt = 0; attempt < 20; attempt++) {
    const name = `${PREFIX}${randomBytes(3).toString("hex")}`;
    if (!existsSync(join(TEMP_BASE, name)) && !existsSync(`/run/netns/${name}`)) return name;
  }
  throw new Error("could not pick an unused sandbox name");
}

export async function startSandboxVps(options: SandboxOptions): Promise<SandboxVps> {
  const resolved: ResolvedOptions = {
    postgres: options.postgres,
    mysql: options.mysql ?? "absent",
    aptHasMysqlServer: options.aptHasMysqlServer ?? false,
    systemd: options.systemd ?? false,
    rootPassword: options.rootPassword ?? randomBytes(18).toString("base64url"),
    authorizedKey: options.authorizedKey ?? "",
    clusters: options.clusters ?? [{ name: "main", port: 5432 }],
    redis: options.redis ?? "",
  };
  for (const { name, port } of resolved.clusters) {
    if (!/^[a-z][a-z0-9_]*$/.test(name) || !Number.isInteger(port) || port < 1024 || port > 65535) throw new Error(`bad sandbox cluster ${name}:${port}`);
  }
  if (resolved.redis && !resolved.systemd) throw new Error("a sandbox with Redis needs systemd: true (its servers run as units)");
  installExitHooks();
  const name = newName();
  const root = join(TEMP_BASE, name);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // Written first so a concurrent removeStaleSandboxes() never mistakes a sandbox being built for debris.
  writeFileSync(join(root, "owner.json"), JSON.stringify(currentOwner()));
  try {
    const network = await createNetwork(name);
    await prepareRoot(root, network.ip, resolved);
    const proc = spawnVps(name, root, resolved);
    await waitForSshd(proc, root, network.ip);
    const pid = sshdPid(root, proc.pid);
    const vps = new VpsHandle(name, network.ip, network.hostIp, resolved.rootPassword, root, pid, proc);
    liveSandboxes.set(name, vps);
    return vps;
  } catch (error) {
    teardown(name);
    throw error;
  }
}

function listNamespaces(): string[] {
  const out = runSync(["ip", "netns", "list"]);
  return out.stdout
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(PREFIX));
}

function listLinks(): string[] {
  const out = runSync(["ip", "-o", "link", "show"]);
  const links: string[] = [];
  for (const match of out.stdout.matchAll(/^\d+:\s+([^:@\s]+)/gm)) {
    const link = match[1] as string;
    if (link.startsWith(PREFIX)) links.push(link);
  }
  return links;
}

/** A sandbox is stale when no live process owns it; this process's and other test runs' live ones are kept. */
function isStale(name: string): boolean {
  return !liveSandboxes.has(name) && !isOwnerAlive(join(TEMP_BASE, name));
}

export async function removeStaleSandboxes(): Promise<void> {
  const names = new Set<string>(listNamespaces());
  for (const link of listLinks()) names.add(link.replace(/-[hv]$/, ""));
  if (existsSync(TEMP_BASE)) {
    for (const entry of readdirSync(TEMP_BASE)) if (entry.startsWith(PREFIX)) names.add(entry);
  }
  for (const name of names) if (isStale(name)) teardown(name);
  // Claims whose sandbox is gone, and mounts some older crash left behind.
  if (existsSync(SUBNET_DIR)) {
    for (const entry of readdirSync(SUBNET_DIR)) releaseSubnetIfStale(join(SUBNET_DIR, entry));
  }
  for (const mountPoint of hostMountsMatching(`/run/netns/${PREFIX}`)) {
    const name = mountPoint.slice(`/run/netns/`.length);
    if (isStale(name)) runSync(["umount", "-l", mountPoint]);
  }
}
