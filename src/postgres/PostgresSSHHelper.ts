import { DeployRefusedError, RemoteStepError } from "../errors/appErrors";
import type { CommandResult, SSHClient } from "../ssh/SSHClient";
import { copyLines, unescapeCopyField } from "./copyText";
import { readMarkers, sectionAfter } from "./scriptOutput";
import {
  bashScriptCommand,
  databasePortScript,
  DEPLOY_REFUSALS,
  deployScript,
  dropDatabaseSql,
  reconcileDeploySql,
  psqlAsPostgresCommand,
  roleAndDatabaseSql,
  type RoleAndDatabaseSpec,
} from "./remoteScripts";
import { runInPsqlSession } from "./psqlSession";
import { tablesListInDatabaseSql, tablesListSql, type TableDataQuery } from "./tableQueries";
import { openTableData, throwIfMissing, type OpenedTableData } from "./tableReader";

export interface RemoteSettings {
  sshUser: string;
  commandTimeoutMs: number;
  installTimeoutMs: number;
}

export interface DeployOutcome {
  port: number;
  createdRole: boolean;
  createdDatabase: boolean;
}

export type StepLogger = (event: { step: string; host: string }) => void;

/** What each deploy step is called when we tell a user it failed. */
const STEP_NAMES: Record<string, string> = {
  lock: "waiting for other deployments on the machine",
  detect: "checking for PostgreSQL",
  install: "installing PostgreSQL",
  cluster: "preparing the PostgreSQL cluster",
  start: "starting PostgreSQL",
  database: "creating the role and database",
  "remote-access": "opening remote access",
  restart: "restarting PostgreSQL",
  reload: "reloading PostgreSQL",
  verify: "verifying remote access",
};

/** Our own sentence for a refusal: the machine's text never reaches the caller. */
function refusal(reason: string, names: { dbName: string; userName: string }): DeployRefusedError {
  const known = DEPLOY_REFUSALS.find((candidate) => candidate === reason);
  return new DeployRefusedError(known ?? "unknown", names);
}

/** PostgreSQL operations on one machine, over one SSH connection. Knows nothing of HTTP. */
export class PostgresSSHHelper {
  constructor(
    private readonly ssh: SSHClient,
    private readonly settings: RemoteSettings,
    private readonly host: string,
    private readonly logStep: StepLogger = () => undefined,
  ) {}

  /**
   * Installs/starts PostgreSQL as needed, creates role and database, opens remote access.
   * If a step fails after something was created, that is dropped again before throwing.
   */
  async deploy(spec: RoleAndDatabaseSpec): Promise<DeployOutcome> {
    const script = deployScript({ roleAndDatabaseSql: roleAndDatabaseSql(spec) });
    let seen = "";
    const result = await this.ssh.exec(bashScriptCommand(this.settings.sshUser), {
      stdin: script,
      timeoutMs: this.settings.commandTimeoutMs,
      onStdout: (chunk, control) => {
        seen += chunk;
        for (const match of chunk.matchAll(/^@@STEP (\S+)$/gm)) {
          const step = match[1] ?? "";
          this.logStep({ step, host: this.host });
          // Only a package installation may legitimately take minutes.
          if (step === "install") control.extendTimeout(this.settings.installTimeoutMs);
          else control.extendTimeout(this.settings.commandTimeoutMs);
        }
      },
    });
    const markers = readMarkers(result.stdout || seen);
    const created = { createdRole: markers.created.has("role"), createdDatabase: markers.created.has("database") };
    const port = Number(markers.result.get("port"));
    if (result.exitCode === 0 && Number.isInteger(port) && port > 0) return { port, ...created };

    await this.rollback({ ...spec, ...created });
    if (markers.refused !== undefined) throw refusal(markers.refused, spec);
    const step = markers.lastStep ?? "connect";
    const reason = markers.failure ? `: ${markers.failure}` : "";
    throw new RemoteStepError(step, `Deployment failed while ${STEP_NAMES[step] ?? step}${reason}`);
  }

  /** Drops whatever a failed deploy created, and nothing else. */
  async rollback(spec: { dbName: string; userName: string; createdRole: boolean; createdDatabase: boolean }): Promise<void> {
    if (!spec.createdRole && !spec.createdDatabase) return;
    const sql = dropDatabaseSql({
      dbName: spec.createdDatabase ? spec.dbName : undefined,
      dropRole: spec.createdRole ? spec.userName : undefined,
    });
    await this.runPsql(sql, "rollback", "rolling back the partial deployment");
  }

  /** Undoes an interrupted deploy: drops only what carries that deploy's tag. */
  async rollbackUnfinished(spec: { dbName: string; userName: string; deployId: number }): Promise<void> {
    await this.runPsql(reconcileDeploySql(spec), "reconcile", "undoing an interrupted deployment");
  }

  /** Ends its sessions and drops the database (when named); then the role, when asked to. */
  async dropDatabase(dbName: string | undefined, dropRole?: string): Promise<void> {
    await this.runPsql(dropDatabaseSql({ dbName, dropRole }), "drop", "dropping the database");
  }

  async getTablesList(dbName: string, schema = "public"): Promise<string[]> {
    // A kept psql session on this connection first, then one psql straight into the database;
    // only when both fail does a slower script find out whether the database exists at all.
    const script = tablesListInDatabaseSql(schema);
    const timeoutMs = this.settings.commandTimeoutMs;
    let stdout = await runInPsqlSession(this.ssh, dbName, script, timeoutMs);
    if (stdout === undefined) {
      const direct = await this.ssh.exec(psqlAsPostgresCommand(dbName), { stdin: script, timeoutMs });
      stdout = direct.exitCode === 0 ? direct.stdout : await this.runPsql(tablesListSql(dbName, schema), "tables", "listing the tables");
    }
    throwIfMissing(readMarkers(stdout).missing, { dbName, schema });
    return copyLines(sectionAfter(stdout, "@@ROWS") ?? "").map(unescapeCopyField);
  }

  /** See openTableData in tableReader.ts. */
  /** The port of the running cluster holding `dbName`, or undefined when none has it. */
  async findDatabasePort(dbName: string): Promise<number | undefined> {
    const result = await this.ssh.exec(bashScriptCommand(this.settings.sshUser), { stdin: databasePortScript(dbName), timeoutMs: this.settings.commandTimeoutMs });
    const port = Number(readMarkers(result.stdout).result.get("port"));
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
    if (result.exitCode !== 0) throw new RemoteStepError("find-port", "Could not find the PostgreSQL cluster of the database on the machine");
    return undefined;
  }

  openTableData(query: TableDataQuery, signal?: AbortSignal): Promise<OpenedTableData> {
    return openTableData(this.ssh, this.settings.commandTimeoutMs, query, signal);
  }

  private async runPsql(sql: string, step: string, doing: string): Promise<string> {
    const result: CommandResult = await this.ssh.exec(psqlAsPostgresCommand(), {
      stdin: sql,
      timeoutMs: this.settings.commandTimeoutMs,
    });
    if (result.exitCode !== 0) throw new RemoteStepError(step, `PostgreSQL on the machine failed while ${doing}`);
    return result.stdout;
  }
}
