import pg from "pg";

/** A direct login to a deployed database over TCP, as a portal user would make it. */
export async function connectAs(host: string, user: string, password: string, database: string, port = 5432): Promise<pg.Client> {
  const client = new pg.Client({ host, port, user, password, database, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

export async function canLogin(host: string, user: string, password: string, database: string): Promise<boolean> {
  try {
    const client = await connectAs(host, user, password, database);
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** One value from the VPS's own PostgreSQL, asked as its postgres superuser (not through the service). */
export async function psqlOnVps(vps: { exec(command: string): Promise<{ stdout: string }> }, sql: string): Promise<string> {
  return (await vps.exec(`cd /tmp && sudo -u postgres psql -X -tAc ${JSON.stringify(sql)}`)).stdout.trim();
}
