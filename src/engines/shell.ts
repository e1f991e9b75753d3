/** POSIX shell single-quoting. */
export function quoteShell(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Runs the script fed on stdin as root: directly when we log in as root, else through sudo. */
export function bashScriptCommand(sshUser: string): string {
  return sshUser === "root" ? "bash -s" : "sudo -n bash -s";
}
