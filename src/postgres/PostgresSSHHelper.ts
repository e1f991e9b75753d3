import { RemoteStepError } from "../errors/appErrors";
import type { CommandResult, SSHClient } from "../ssh/SSHClient";
import { copyLines, unescapeCopyField } from "./copyText";
import { readMarkers, sectionAfter } from "./scriptOutput";
import {
  bashScriptCommand,
  deployScript,
  dropDatabaseSql,
  reconcileDeploySql,
  psqlAsDatabaseOwnerCommand,
  psqlAsPostgresCommand,
  roleAndDatabaseSql,
  type RoleAndDatabaseSpec,
} from "./remoteScripts";
import { runInPsqlSession } from "./psqlSession";
import { tablesListInDatabaseSql, type TableDataQuery } from "./tableQueries";
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
    await this.runPsql(sql, spec.dbName, "rollback", "rolling back the partial deployment");
  }

  /** Undoes an interrupted deploy: drops only what carries that deploy's tag. */
  async rollbackUnfinished(spec: { dbName: string; userName: string; deployId: number }): Promise<void> {
    await this.runPsql(reconcileDeploySql(spec), spec.dbName, "reconcile", "undoing an interrupted deployment");
  }

  /** Ends its sessions and drops the database; then the role, when asked to. */
  async dropDatabase(dbName: string, dropRole?: string): Promise<void> {
    await this.runPsql(dropDatabaseSql({ dbName, dropRole }), dbName, "drop", "dropping the database");
  }

  async getTablesList(dbName: string, schema = "public"): Promise<string[]> {
    // A kept psql session on this connection first, else a one-shot psql, which also reports
    // why a session could not be opened (e.g. the database does not exist).
    const script = tablesListInDatabaseSql(schema);
    const timeoutMs = this.settings.commandTimeoutMs;
    let stdout = await runInPsqlSession(this.ssh, dbName, script, timeoutMs);
    if (stdout === undefined) {
      const direct = await this.ssh.exec(psqlAsDatabaseOwnerCommand(dbName), { stdin: script, timeoutMs });
      const missing = readMarkers(direct.stdout).missing;
      if (direct.exitCode !== 0 && missing === undefined) throw new RemoteStepError("tables", "PostgreSQL on the machine failed while listing the tables");
      stdout = direct.stdout;
    }
    throwIfMissing(readMarkers(stdout).missing, { dbName, schema });
    return copyLines(sectionAfter(stdout, "@@ROWS") ?? "").map(unescapeCopyField);
  }

  /** See openTableData in tableReader.ts. */
  openTableData(query: TableDataQuery, signal?: AbortSignal): Promise<OpenedTableData> {
    return openTableData(this.ssh, this.settings.commandTimeoutMs, query, signal);
  }

  /** Runs an administrative script as postgres in the cluster that holds (or would hold) `dbName`. */
  private async runPsql(sql: string, dbName: string, step: string, doing: string): Promise<string> {
    const result: CommandResult = await this.ssh.exec(psqlAsPostgresCommand({ clusterOf: dbName }), {
      stdin: sql,
      timeoutMs: this.settings.commandTimeoutMs,
    });
    if (result.exitCode !== 0) throw new RemoteStepError(step, `PostgreSQL on the machine failed while ${doing}`);
    return result.stdout;
  }
}
