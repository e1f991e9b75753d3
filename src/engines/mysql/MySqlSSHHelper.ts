import { DeployRefusedError, RemoteStepError, WrongRootPasswordError } from "../../errors/appErrors";
import { quoteShell } from "../shell";
import { runStepScript, stepFailure, type RemoteSettings, type StepLogger } from "../stepScript";
import type { SSHClient } from "../../ssh/SSHClient";
import { MYSQL_AS_ROOT_COMMAND, MYSQL_DEPLOY_REFUSALS, mysqlDeployScript, mysqlDropSql, type MySqlDeploySpec } from "./remoteScripts";

export interface MySqlDeployOutcome {
  port: number;
  existingInstallation: boolean;
  createdUser: boolean;
  createdDatabase: boolean;
}

/** What each deploy step is called when we tell a user it failed. */
const STEP_NAMES: Record<string, string> = {
  lock: "waiting for other deployments on the machine",
  detect: "checking for MySQL",
  install: "installing MySQL",
  start: "starting MySQL",
  "root-password": "setting up the root password",
  database: "creating the user and database",
  "remote-access": "opening remote access",
  restart: "restarting MySQL",
};

/** MySQL operations on one machine, over one SSH connection. Knows nothing of HTTP. */
export class MySqlSSHHelper {
  constructor(
    private readonly ssh: SSHClient,
    private readonly settings: RemoteSettings,
    private readonly host: string,
    private readonly logStep: StepLogger = () => undefined,
  ) {}

  /** See mysqlDeployScript. Whatever a failed deploy created is dropped again before throwing. */
  async deploy(spec: MySqlDeploySpec): Promise<MySqlDeployOutcome> {
    const { result, markers } = await runStepScript(this.ssh, this.settings, mysqlDeployScript(spec), { host: this.host, logStep: this.logStep });
    const created = { createdUser: markers.created.has("user"), createdDatabase: markers.created.has("database") };
    const port = Number(markers.result.get("port"));
    if (result.exitCode === 0 && Number.isInteger(port) && port > 0) {
      return { port, existingInstallation: markers.result.get("existing") === "1", ...created };
    }

    await this.rollback({ dbName: spec.dbName, userName: spec.userName, ...created });
    const refused = MYSQL_DEPLOY_REFUSALS.find((reason) => reason === markers.refused);
    if (refused === "wrong-root-password") throw new WrongRootPasswordError();
    if (refused) throw new DeployRefusedError(refused, spec);
    throw stepFailure(markers, STEP_NAMES, (doing) => `MySQL deployment failed while ${doing}`);
  }

  /** Drops what a failed deploy created, and nothing else. */
  async rollback(spec: { dbName: string; userName: string; createdUser: boolean; createdDatabase: boolean }): Promise<void> {
    if (!spec.createdUser && !spec.createdDatabase) return;
    await this.runAsRoot(
      mysqlDropSql({ dbName: spec.createdDatabase ? spec.dbName : undefined, userName: spec.createdUser ? spec.userName : undefined }),
      "rollback",
      "rolling back the partial deployment",
    );
  }

  /** Drops the database (when named) and the user's accounts (when named). */
  async drop(spec: { dbName?: string; userName?: string }): Promise<void> {
    await this.runAsRoot(mysqlDropSql(spec), "drop", "dropping the database");
  }

  private async runAsRoot(sql: string, step: string, doing: string): Promise<string> {
    const command = this.settings.user === "root" ? MYSQL_AS_ROOT_COMMAND : `sudo -n sh -c ${quoteShell(MYSQL_AS_ROOT_COMMAND)}`;
    const result = await this.ssh.exec(command, { stdin: sql, timeoutMs: this.settings.commandTimeoutMs });
    if (result.exitCode !== 0) throw new RemoteStepError(step, `MySQL on the machine failed while ${doing}`);
    return result.stdout;
  }
}
