import { auditedWork, type Actor } from "../../metadata/auditTrail";
import type { MachineServiceDeps } from "../serviceDeps";
import type { CachingStore } from "../../metadata/cachingStore";
import { CACHING_STATUS, type CachingRow } from "../../metadata/schema";
import { RedisSSHHelper } from "../../engines/redis/RedisSSHHelper";
import type { RedisProbe } from "../../engines/redis/redisClient";
import { isReservedRedisName, isValidRedisName, isValidRedisPort, REDIS_PORT_MAX, REDIS_PORT_MIN } from "../../engines/redis/redisRules";
import { ConflictError, InvalidRequestError, MachineAccessDeniedError, NotFoundError, RemoteStepError } from "../../errors/appErrors";
import type { MachineRecord } from "../../machines/machineRegistry";
import { sshTargetFor } from "../../machines/sshTarget";
import { verifyMachine } from "../../machines/verifyMachine";
import type { KeyedMutex } from "../../shared/keyedMutex";
import type { Logger } from "../../shared/logger";
import type { SSHClient } from "../../ssh/SSHClient";
import type { DeployRedisRequest, RedisServerRequest } from "./caching.model";

export interface CachingServiceDeps extends MachineServiceDeps<CachingStore> {
  hostLocks: KeyedMutex;
  probe: RedisProbe;
  /** How long the TCP proof (AUTH + PING) may take. */
  probeTimeoutMs: number;
  logger: Logger;
}

/** A row as the owner sees it, with the password opened. */
export interface RedisServerView {
  id: number;
  cacheName: string;
  password: string;
  host: string;
  port: number;
  vpsId: number;
  userId: number;
  cachingType: string;
  status: string;
  createdAt: string;
}

export interface RedisDeployResult {
  id: number;
  host: string;
  port: number;
  connectionString: string;
}

function connectionString(password: string, host: string, port: number): string {
  const hostPart = host.includes(":") ? `[${host}]` : host;
  return `redis://:${encodeURIComponent(password)}@${hostPart}:${port}`;
}

function portOf(value: string | number): number {
  const port = typeof value === "number" ? value : Number(value);
  if (!isValidRedisPort(port)) throw new InvalidRequestError(`port must be a number between ${REDIS_PORT_MIN} and ${REDIS_PORT_MAX}`);
  return port;
}

const ADOPTED_MESSAGE =
  "This Redis server was started by the previous version of the service without a systemd unit, so it cannot be managed; delete it and deploy a new one";

export function createCachingService(deps: CachingServiceDeps) {
  const { store, registry, leases, secretBox, logger } = deps;

  const helperFor = (ssh: SSHClient, host: string) =>
    new RedisSSHHelper(ssh, deps.ssh, host, ({ step }) => logger.info("redis.step", { host, step }));

  const onMachine = <T>(machine: MachineRecord, work: (helper: RedisSSHHelper) => Promise<T>): Promise<T> =>
    deps.hostLocks.run(machine.ip, () =>
      leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) => work(helperFor(ssh, machine.ip))),
    );

  /** Refusals on someone else's resource and every outcome of a change end up in the audit log. */
  const audited = auditedWork(deps.audit);

  async function openPassword(row: CachingRow): Promise<string> {
    if (secretBox.isSealed(row.password)) return secretBox.open(row.password);
    // Written in plaintext by the previous implementation: seal it now, keep answering.
    await store.replacePassword(row.id, row.password, secretBox.seal(row.password));
    return row.password;
  }

  const proveAnswers = (host: string, port: number, password: string) => deps.probe({ host, port, password, timeoutMs: deps.probeTimeoutMs });

  function deploy(actor: Actor, request: DeployRedisRequest): Promise<RedisDeployResult> {
    const event = { action: "deploy-redis" as const, machineId: request.vpsId, host: request.vpsIp, dbName: request.name };
    return audited(actor, event, () => deployAs(actor.userId, request));
  }

  async function deployAs(userId: number, request: DeployRedisRequest): Promise<RedisDeployResult> {
    // Everything about the request is checked before any connection.
    const port = portOf(request.port);
    const name = request.name;
    if (!isValidRedisName(name)) throw new InvalidRequestError("name must not end with a hyphen");
    if (isReservedRedisName(name)) throw new InvalidRequestError(`${name} is a reserved name (a system service or directory); choose another name`);

    const machine = await verifyMachine(registry, request.vpsId, userId, request.vpsIp);
    const scope = { vpsId: machine.id, host: machine.ip };
    // Name check, port claim and remote work as one step per machine, so two deploys of this
    // process never race; across processes the (vps_id, host, port) index and the remote checks do.
    return deps.hostLocks.run(`redis:${machine.ip}`, async () => {
      if (await store.findByNameOnMachine(scope, name)) throw new ConflictError(`A Redis server named ${name} already exists on ${machine.ip}; choose another name`);
      const row = await store.insertDeploying({ cacheName: name, password: secretBox.seal(request.password), host: machine.ip, vpsId: machine.id, userId, port, unitInstance: name });
      const spec = { instance: name, port, deployId: row.id, password: request.password, maxMemoryMb: request.maxMemoryMb };
      try {
        await onMachine(machine, async (helper) => {
          await helper.deploy(spec);
          try {
            await proveAnswers(machine.ip, port, request.password);
          } catch {
            await helper.remove(spec);
            throw new RemoteStepError("verify", `The Redis server started but does not answer AUTH and PING on ${machine.ip}:${port}`);
          }
        });
        await store.setStatus(row.id, CACHING_STATUS.running);
      } catch (error) {
        await store.remove(row.id).catch((cleanupError: unknown) => {
          logger.error("redis.deploy_cleanup_failed", { id: row.id, reason: cleanupError instanceof Error ? cleanupError.message : "unknown" });
        });
        throw error;
      }
      logger.info("redis.deployed", { id: row.id, host: machine.ip, port, userId });
      return { id: row.id, host: machine.ip, port, connectionString: connectionString(request.password, machine.ip, port) };
    });
  }

  /** The caller's recorded server on that machine with that port and name; everything else comes from the row. */
  async function findServer(userId: number, request: RedisServerRequest): Promise<{ machine: MachineRecord; row: CachingRow }> {
    const machine = await verifyMachine(registry, request.vpsId, userId, request.vpsIp);
    const port = Number(request.port);
    const row = Number.isInteger(port) ? await store.findOwned(userId, { vpsId: machine.id, host: machine.ip }, port, request.name) : undefined;
    if (!row) throw new NotFoundError("Redis server not found on this machine (check its name and port)");
    if (row.status === CACHING_STATUS.deploying) throw new ConflictError("This Redis server is still being deployed, try again when it is running");
    return { machine, row };
  }

  const specOf = (row: CachingRow, instance: string) => ({ instance, port: row.port, deployId: row.id });

  function stop(actor: Actor, request: RedisServerRequest): Promise<string> {
    return audited(actor, { action: "stop-redis", machineId: request.vpsId, host: request.vpsIp, dbName: request.name }, async () => {
      const { machine, row } = await findServer(actor.userId, request);
      if (!row.unitInstance) throw new ConflictError(ADOPTED_MESSAGE);
      const instance = row.unitInstance;
      await onMachine(machine, (helper) => helper.stop(specOf(row, instance)));
      await store.setStatus(row.id, CACHING_STATUS.stopped);
      return `Redis server ${row.cacheName} stopped`;
    });
  }

  function start(actor: Actor, request: RedisServerRequest): Promise<string> {
    return audited(actor, { action: "start-redis", machineId: request.vpsId, host: request.vpsIp, dbName: request.name }, async () => {
      const { machine, row } = await findServer(actor.userId, request);
      if (!row.unitInstance) throw new ConflictError(ADOPTED_MESSAGE);
      const instance = row.unitInstance;
      const password = await openPassword(row);
      await onMachine(machine, (helper) => helper.start({ ...specOf(row, instance), password }));
      try {
        await proveAnswers(machine.ip, row.port, password);
      } catch {
        throw new RemoteStepError("verify", `The Redis server started but does not answer AUTH and PING on ${machine.ip}:${row.port}`);
      }
      await store.setStatus(row.id, CACHING_STATUS.running);
      return `Redis server ${row.cacheName} started`;
    });
  }

  function remove(actor: Actor, request: RedisServerRequest): Promise<string> {
    return audited(actor, { action: "delete-redis", machineId: request.vpsId, host: request.vpsIp, dbName: request.name }, async () => {
      const { machine, row } = await findServer(actor.userId, request);
      if (!row.unitInstance) {
        // Nothing on the machine was created by this service: only the record goes.
        await store.remove(row.id);
        return `Redis server ${row.cacheName} removed from the list; its files on the machine were left untouched (it was not created by this version of the service)`;
      }
      const instance = row.unitInstance;
      await onMachine(machine, (helper) => helper.remove(specOf(row, instance)));
      await store.remove(row.id);
      logger.info("redis.deleted", { id: row.id, host: row.host, userId: actor.userId });
      return `Redis server ${row.cacheName} deleted`;
    });
  }

  async function list(userId: number): Promise<RedisServerView[]> {
    const rows = await store.listByUser(userId);
    return Promise.all(
      rows.map(async (row) => ({
        id: row.id,
        cacheName: row.cacheName,
        password: await openPassword(row),
        host: row.host,
        port: row.port,
        vpsId: row.vpsId,
        userId: row.userId,
        cachingType: row.cachingType || "redis",
        status: row.status,
        createdAt: row.createdAt.toISOString(),
      })),
    );
  }

  /** The caller's recorded ports on the machine and every TCP port listening there, ascending. */
  async function usedPorts(userId: number, machineId: number): Promise<number[]> {
    const machine = await registry.findOwned(machineId, userId);
    if (!machine || machine.ownerId !== userId) throw new MachineAccessDeniedError();
    const recorded = await store.portsOfUserOnMachine(userId, machine.id);
    const listening = await leases.withLease(sshTargetFor(machine, deps.ssh, deps.encryptionKey), (ssh) => helperFor(ssh, machine.ip).listeningPorts());
    return [...new Set([...recorded, ...listening])].sort((a, b) => a - b);
  }

  return { deploy, stop, start, remove, list, usedPorts };
}

export type CachingService = ReturnType<typeof createCachingService>;
