import { ConflictError, PortInUseError, RemoteStepError } from "../../errors/appErrors";
import { runStepScript, stepFailure, type RemoteSettings, type StepLogger } from "../stepScript";
import type { SSHClient } from "../../ssh/SSHClient";
import { parseListeningPorts } from "./listeningPorts";
import {
  LISTENING_SOCKETS_COMMAND,
  redisDeployScript,
  redisRemoveScript,
  redisStartScript,
  redisStopScript,
  type RedisConfigSpec,
  type RedisInstanceSpec,
} from "./remoteScripts";

/** What each step is called when we tell a user it failed. */
const STEP_NAMES: Record<string, string> = {
  lock: "waiting for other deployments on the machine",
  detect: "checking for Redis",
  install: "installing redis-server",
  check: "checking the port and name",
  files: "writing the server's files",
  start: "starting the server",
  verify: "verifying the server",
  inspect: "looking for the server's files",
  stop: "stopping the server",
  remove: "removing the server's files",
};

/** Redis operations on one machine, over one SSH connection. Knows nothing of HTTP. */
export class RedisSSHHelper {
  constructor(
    private readonly ssh: SSHClient,
    private readonly settings: RemoteSettings,
    private readonly host: string,
    private readonly logStep: StepLogger = () => undefined,
  ) {}

  /**
   * Installs redis-server when missing, then writes, enables and starts the server's unit.
   * Whatever it created is removed again before a failure is thrown.
   */
  async deploy(spec: RedisConfigSpec): Promise<void> {
    const result = await this.runScript(redisDeployScript(spec), "deploying");
    if (result.ok) return;
    if (result.created) await this.remove(spec);
    if (result.refused === "port-busy") throw new PortInUseError(spec.port, `another program on ${this.host}`);
    if (result.refused === "name-taken") throw new ConflictError(`A Redis server named ${spec.instance} already exists on ${this.host}; choose another name`);
    throw result.error;
  }

  /** Stops and disables the unit and removes the files carrying this deploy's id. Idempotent. */
  async remove(spec: RedisInstanceSpec): Promise<void> {
    const result = await this.runScript(redisRemoveScript(spec), "removing");
    if (!result.ok) throw result.error;
  }

  async stop(spec: RedisInstanceSpec): Promise<void> {
    const result = await this.runScript(redisStopScript(spec), "stopping");
    if (!result.ok) throw result.error;
  }

  async start(spec: RedisInstanceSpec & { password: string }): Promise<void> {
    const result = await this.runScript(redisStartScript(spec), "starting");
    if (!result.ok) throw result.error;
  }

  /** Every TCP port something listens on, IPv4 and IPv6, ascending. */
  async listeningPorts(): Promise<number[]> {
    const result = await this.ssh.exec(LISTENING_SOCKETS_COMMAND, { timeoutMs: this.settings.commandTimeoutMs });
    if (result.exitCode !== 0) throw new RemoteStepError("ports", "Could not read the machine's listening ports");
    return parseListeningPorts(result.stdout);
  }

  private async runScript(script: string, doing: string) {
    const { result, markers } = await runStepScript(this.ssh, this.settings, script, { host: this.host, logStep: this.logStep });
    return {
      ok: result.exitCode === 0 && markers.failure === undefined && markers.refused === undefined,
      created: markers.created.size > 0,
      refused: markers.refused,
      error: stepFailure(markers, STEP_NAMES, (step) => `Redis on ${this.host} failed while ${step} (${doing})`),
    };
  }
}
