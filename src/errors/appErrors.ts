/**
 * Typed domain errors. Services throw these and know nothing of HTTP;
 * `http/errorResponses.ts` is the single place that turns them into status codes.
 */
export abstract class AppError extends Error {
  abstract readonly kind: string;
}

/** The request is malformed or breaks a rule of the contract. */
export class InvalidRequestError extends AppError {
  readonly kind = "invalid-request";
}

/** A MySQL installation's root account refused the root password given (nothing was changed). */
export class WrongRootPasswordError extends InvalidRequestError {
  constructor() {
    super("MySQL is already installed on this machine and its root account did not accept this root password; give the existing root password (nothing was changed)");
  }
}

/** A database with that name is already recorded on that host. */
export class DatabaseAlreadyExistsError extends AppError {
  readonly kind = "already-exists";
  constructor(dbName: string, host: string) {
    super(`A database named ${dbName} already exists on ${host}`);
  }
}

/** Missing, invalid or expired access token (the platform's contract is HTTP 419). */
export class AuthenticationError extends AppError {
  readonly kind = "authentication";
  constructor(message = "Your session has expired, please log in again") {
    super(message);
  }
}

/** `verifyMachine` refused: the machine does not exist, is not the caller's, or the IP differs. */
export class MachineAccessDeniedError extends AppError {
  readonly kind = "machine-access-denied";
  constructor() {
    super("Unauthorized access for the machine");
  }
}

/** The table-data route reports a failed machine check as "not found" (contract). */
export class MachineNotVisibleError extends AppError {
  readonly kind = "machine-not-visible";
  constructor() {
    super("Invalid Machine details or you are unauthorized to access this machine");
  }
}

export class NotFoundError extends AppError {
  readonly kind = "not-found";
}

/** Browsing runs with the rights of the database's owner; what those do not allow is refused. */
export class ReadRefusedError extends AppError {
  readonly kind = "read-refused";
}

export class PayloadTooLargeError extends AppError {
  readonly kind = "payload-too-large";
  constructor() {
    super("Request body is too large (limit 1 MiB)");
  }
}

/** A state-changing request whose body is not JSON (what a cross-site form would send). */
export class UnsupportedMediaTypeError extends AppError {
  readonly kind = "unsupported-media-type";
  constructor() {
    super("Content-Type must be application/json");
  }
}

/** A state-changing request sent by a page of an origin we do not serve. */
export class ForeignOriginError extends AppError {
  readonly kind = "foreign-origin";
  constructor() {
    super("Requests from this origin are not allowed");
  }
}

/** The machine's stored SSH credentials could not be decrypted. */
export class MachineCredentialsError extends AppError {
  readonly kind = "machine-credentials";
  constructor() {
    super("The stored credentials of this machine could not be decrypted");
  }
}

/** SSH connection could not be established (refused, unreachable, auth failure). */
export class MachineUnreachableError extends AppError {
  readonly kind = "machine-unreachable";
}

/** A remote step ran but failed; `step` names it for the user. */
export class RemoteStepError extends AppError {
  readonly kind = "remote-step";
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(message);
  }
}

/** A remote command or connection did not finish within its time limit. */
export class RemoteTimeoutError extends AppError {
  readonly kind = "remote-timeout";
}

/**
 * A machine answered with more output than any legitimate answer has (a tenant is root on
 * their machine and controls what comes back); the command was stopped.
 */
export class RemoteOutputTooLargeError extends AppError {
  readonly kind = "remote-output-too-large";
  constructor() {
    super("The machine sent more output than expected; the command was stopped");
  }
}

/** Our metadata database or the machine registry is unavailable. */
export class DependencyUnavailableError extends AppError {
  readonly kind = "dependency-unavailable";
}

/** The resource is in a state that forbids the operation right now. */
export class ConflictError extends AppError {
  readonly kind = "conflict";
}

/**
 * No channel could be opened on an existing connection (the peer went away). Nothing ran
 * remotely, so the work may safely be retried on a fresh connection.
 */
export class SshChannelUnavailableError extends MachineUnreachableError {}

/** The port asked for is taken on the machine. The message says "port": the portal looks for that word. */
export class PortInUseError extends AppError {
  readonly kind = "port-in-use";
  constructor(port: number, byWhat: string) {
    super(`Port ${port} is already in use by ${byWhat}; choose another port`);
  }
}

/** Too many requests from one user or address. */
export class RateLimitedError extends AppError {
  readonly kind = "rate-limited";
  constructor() {
    super("Too many requests, please slow down and try again shortly");
  }
}

/** The machine presented another SSH host key than the one pinned at first contact. */
export class HostKeyMismatchError extends AppError {
  readonly kind = "host-key-mismatch";
  constructor(machineId: number) {
    super(`The SSH host key of machine ${machineId} changed; nothing was done. If the machine was reinstalled, ask support to reset its pinned key`);
  }
}

/**
 * A deploy found something on the machine it must not take over (a privileged or foreign role,
 * a database it did not create) and changed nothing.
 */
export class DeployRefusedError extends AppError {
  readonly kind = "deploy-refused";
  constructor(
    readonly reason: "privileged-role" | "foreign-role" | "foreign-database" | "privileged-user" | "foreign-user" | "unknown",
    names: { dbName: string; userName: string },
  ) {
    super(DEPLOY_REFUSED_MESSAGES[reason](names));
  }
}

const DEPLOY_REFUSED_MESSAGES: Record<DeployRefusedError["reason"], (names: { dbName: string; userName: string }) => string> = {
  "privileged-role": ({ userName }) =>
    `Role ${userName} already exists on the machine with administrative privileges (superuser, create role or database, replication, bypass RLS, or membership in such a role); nothing was changed, choose another user name`,
  "foreign-role": ({ userName }) =>
    `Role ${userName} already exists on the machine and was not created by this service for your databases there; nothing was changed, choose another user name`,
  "foreign-database": ({ dbName }) => `Database ${dbName} already exists on the machine and was not created by this service; nothing was changed`,
  "privileged-user": ({ userName }) =>
    `MySQL user ${userName} already exists on the machine with global or grant privileges; nothing was changed, choose another user name`,
  "foreign-user": ({ userName }) =>
    `MySQL user ${userName} already exists on the machine and was not created by this service for your databases there; nothing was changed, choose another user name`,
  unknown: () => "The machine refused the deployment; nothing was changed",
};

/**
 * PostgreSQL refused a statement of the user's own SQL: the user must see their mistake.
 * `position` is 1-based in the whole submitted text, `statement` the 1-based statement index.
 */
export class SqlStatementError extends AppError {
  readonly kind = "sql-error";
  constructor(
    message: string,
    readonly code: string,
    readonly statement: number,
    readonly position?: number,
  ) {
    super(message);
  }
}
