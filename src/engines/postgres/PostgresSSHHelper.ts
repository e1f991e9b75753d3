import { DeployRefusedError, RemoteOutputTooLargeError, RemoteStepError, RemoteTimeoutError } from "../../errors/appErrors";
import type { CommandResult, SSHClient } from "../../ssh/SSHClient";
import { copyLines, unescapeCopyField } from "./copyText";
import { readMarkers, sectionAfter } from "../scriptOutput";
import { bashScriptCommand } from "../shell";
import { runStepScript, stepFailure, type RemoteSettings, type StepLogger, type StepScriptRun } from "../stepScript";

export type { RemoteSettings, StepLogger } from "../stepScript";
import {
  databasePortScript,
  DEPLOY_REFUSALS,
  deployScript,
  dropDatabaseSql,
  reconcileDeploySql,
  psqlAsPostgresCommand,
  roleAndDatabaseSql,
  type RoleAndDatabaseSpec,
} from "./remoteScripts";
import { PSQL_SESSION_OUTPUT_MAX_BYTES } from "./psqlSession";
import { tablesListInDatabaseSql, type TableDataQuery } from "./tableQueries";
import { collectOutput, openBrowsingScript, openTableData, throwIfMissing, within, type OpenedTableData } from "./tableReader";

export interface DeployOutcome {
  port: number;
  createdRole: boolean;
  createdDatabase: boolean;
}

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

/** A tables list is the one long answer (about 130,000 names); the same bound whichever way it is read. */
const TABLES_LIST_MAX_BYTES = PSQL_SESSION_OUTPUT_MAX_BYTES;

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
    let run: StepScriptRun;
    try {
      // Rollback below gets its own command timeout: a deploy never outlives install + 2 × command.
      run = await runStepScript(this.ssh, this.settings, script, { host: this.host, logStep: this.logStep });
    } catch (error) {
      // The script was stopped midway (too slow, or too much output) on a connection that still
      // works: undo exactly what carries this deploy's tag, whatever markers got through.
      if (error instanceof RemoteTimeoutError || error instanceof RemoteOutputTooLargeError) {
        await this.rollbackUnfinished(spec).catch(() => undefined);
      }
      throw error;
    }
    const { result, markers } = run;
    const created = { createdRole: markers.created.has("role"), createdDatabase: markers.created.has("database") };
    const port = Number(markers.result.get("port"));
    if (result.exitCode === 0 && Number.isInteger(port) && port > 0) return { port, ...created };

    await this.rollback({ ...spec, ...created });
    if (markers.refused !== undefined) throw refusal(markers.refused, spec);
    throw stepFailure(markers, STEP_NAMES, (doing) => `Deployment failed while ${doing}`);
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

  /** Ends its sessions and drops the database (when named); then the role, when asked to. */
  async dropDatabase(dbName: string | undefined, dropRole?: string): Promise<void> {
    // Without a database to drop, the role lives in the cluster a deploy would use.
    await this.runPsql(dropDatabaseSql({ dbName, dropRole }), dbName ?? "postgres", "drop", "dropping the database");
  }

  async getTablesList(dbName: string, schema = "public"): Promise<string[]> {
    // The connection's kept reader for the database when free, else a one-shot reader psql,
    // which also reports why a reader could not log in (e.g. the database does not exist).
    const command = await openBrowsingScript(this.ssh, dbName, tablesListInDatabaseSql(schema), this.settings.commandTimeoutMs);
    // SSH_COMMAND_TIMEOUT_MS bounds a tables list in all, not only its silences.
    const collected = within(collectOutput(command, TABLES_LIST_MAX_BYTES).then(async (stdout) => ({ stdout, result: await command.result })), this.settings.commandTimeoutMs);
    const { stdout, result } = await collected.catch((error: unknown) => {
      command.abort();
      throw error;
    });
    const markers = readMarkers(stdout);
    if (result.exitCode !== 0 && markers.missing === undefined) throw new RemoteStepError("tables", "PostgreSQL on the machine failed while listing the tables");
    throwIfMissing(markers.missing, { dbName, schema });
    return copyLines(sectionAfter(stdout, "@@ROWS") ?? "").map(unescapeCopyField);
  }

  /** See openTableData in tableReader.ts. */
  /** The port of the running cluster holding `dbName`, or undefined when none has it. */
  async findDatabasePort(dbName: string): Promise<number | undefined> {
    const result = await this.ssh.exec(bashScriptCommand(this.settings.user), { stdin: databasePortScript(dbName), timeoutMs: this.settings.commandTimeoutMs });
    const port = Number(readMarkers(result.stdout).result.get("port"));
    if (Number.isInteger(port) && port > 0 && port < 65536) return port;
    if (result.exitCode !== 0) throw new RemoteStepError("find-port", "Could not find the PostgreSQL cluster of the database on the machine");
    return undefined;
  }

  openTableData(query: TableDataQuery, signal?: AbortSignal): Promise<OpenedTableData> {
    return openTableData(this.ssh, this.settings.commandTimeoutMs, query, signal);
  }

  /** Runs an administrative script as postgres in the cluster that holds (or would hold) `dbName`. */
  private async runPsql(sql: string, dbName: string, step: string, doing: string, maxStdoutBytes?: number): Promise<string> {
    const result: CommandResult = await this.ssh.exec(psqlAsPostgresCommand({ clusterOf: dbName }), {
      stdin: sql,
      timeoutMs: this.settings.commandTimeoutMs,
      maxStdoutBytes,
    });
    if (result.exitCode !== 0) throw new RemoteStepError(step, `PostgreSQL on the machine failed while ${doing}`);
    return result.stdout;
  }
}
