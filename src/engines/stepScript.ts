import type { SshSettings } from "../config/env";
import { RemoteStepError } from "../errors/appErrors";
import type { CommandResult, SSHClient } from "../ssh/SSHClient";
import { LineSplitter, readMarkers, type ScriptMarkers } from "./scriptOutput";
import { bashScriptCommand } from "./shell";

/** How every engine runs commands on a machine: who we log in as, and how long things may take. */
export type RemoteSettings = Pick<SshSettings, "user" | "commandTimeoutMs" | "installTimeoutMs">;

export type StepLogger = (event: { step: string; host: string }) => void;

/** Bounds on what a script's progress markers may do: the machine is the tenant's. */
const MARKER_LINE_MAX_CHARS = 1024;
const MAX_STEPS = 32;
const MAX_STEP_NAME = 64;
/** A failure reason goes into a user's message and our logs: a line, not a flood. */
const MAX_FAILURE_REASON = 300;

export interface StepScriptRun {
  result: CommandResult;
  markers: ScriptMarkers;
}

/**
 * Runs one of our `@@STEP`-marked scripts as root. Each new step is logged and restarts the
 * command timer (only an installation may take minutes); a repeated or endless stream of markers
 * neither logs nor buys time, and the whole run never outlives install + command timeouts.
 * Timeouts and oversized output are thrown (RemoteTimeoutError, RemoteOutputTooLargeError).
 */
export async function runStepScript(ssh: SSHClient, settings: RemoteSettings, script: string, log: { host: string; logStep: StepLogger }): Promise<StepScriptRun> {
  const { installTimeoutMs, commandTimeoutMs } = settings;
  const lines = new LineSplitter(MARKER_LINE_MAX_CHARS);
  const stepsSeen = new Set<string>();
  const result = await ssh.exec(bashScriptCommand(settings.user), {
    stdin: script,
    timeoutMs: commandTimeoutMs,
    deadlineMs: installTimeoutMs + commandTimeoutMs,
    onStdout: (chunk, control) => {
      for (const line of lines.push(chunk)) {
        if (!line.startsWith("@@STEP ")) continue;
        const step = line.slice("@@STEP ".length).trim();
        if (stepsSeen.has(step) || stepsSeen.size >= MAX_STEPS || step.length > MAX_STEP_NAME) continue;
        stepsSeen.add(step);
        log.logStep({ step, host: log.host });
        control.extendTimeout(step === "install" ? installTimeoutMs : commandTimeoutMs);
      }
    },
  });
  return { result, markers: readMarkers(result.stdout) };
}

/** Our sentence for a failed script: the step it stopped at, by name, and its short reason. */
export function stepFailure(markers: ScriptMarkers, stepNames: Record<string, string>, describe: (doing: string) => string): RemoteStepError {
  const step = (markers.lastStep ?? "connect").slice(0, MAX_STEP_NAME);
  const reason = markers.failure ? `: ${markers.failure.slice(0, MAX_FAILURE_REASON)}` : "";
  return new RemoteStepError(step, `${describe(stepNames[step] ?? step)}${reason}`);
}
