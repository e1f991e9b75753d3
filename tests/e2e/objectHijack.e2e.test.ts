import { PSQL_SESSION_IDLE_MS } from "../../src/engines/postgres/psqlSession";
import { beforeAll, describe, expect, test } from "bun:test";
import { sandboxService } from "../support/sandboxService";
import type pg from "pg";
import { connectAs } from "../support/remoteDb";

/**
 * A deployed database's owner (whose password travels to every client of theirs) plants
 * objects that run `COPY ... TO PROGRAM` when evaluated. Only a superuser may do that, so a
 * canary file on the VPS appears exactly when the service evaluated user objects with
 * superuser rights. Each trap is first fired once by hand as `postgres` (so the test can fail),
 * then the service browses, lists and deletes: no canary may appear.
 */
const OWNER = 41;
const PASSWORD = "hijack-pw";
const CANARY_DIR = "/tmp";
const canary = (trap: string) => `${CANARY_DIR}/zsl-hijack-${trap}`;

const where = () => ({ databaseName: "hijack", vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, username: "hijack_user" });

async function asPostgres(database: string, sql: string): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  return sandbox.vps.exec(`cd /tmp && sudo -u postgres psql -X -q -d ${database} -tAc ${JSON.stringify(sql)}`);
}

async function canaries(): Promise<string[]> {
  const listed = await sandbox.vps.exec(`ls -1 ${CANARY_DIR} | grep '^zsl-hijack-' || true`);
  return listed.stdout.split("\n").filter(Boolean).sort();
}

async function clearCanaries(): Promise<void> {
  await sandbox.vps.exec(`rm -f ${CANARY_DIR}/zsl-hijack-*`);
}

/** A function body that touches the canary of `trap` (needs superuser or pg_execute_server_program). */
const touches = (trap: string) => `COPY (SELECT 1) TO PROGRAM 'touch ${canary(trap)}';`;

const sandbox = sandboxService({ vps: { postgres: "running" }, ownerId: OWNER });

beforeAll(async () => {
  const deployed = await sandbox.app.request("POST", "/deploy-postgres", {
    userId: OWNER,
    body: { vpsId: sandbox.machineId, vpsIp: sandbox.vps.ip, dbName: "hijack", userName: "hijack_user", password: PASSWORD, dbType: "postgres" },
  });
  expect({ status: deployed.status, body: deployed.body }).toMatchObject({ status: 200 });

  // PostgreSQL <= 14 lets everyone create in the postgres database's public schema.
  await asPostgres("postgres", "GRANT CREATE ON SCHEMA public TO PUBLIC");

  const owner = await connectAs(sandbox.vps.ip, "hijack_user", PASSWORD, "hijack");
  await owner.query(`
    CREATE TABLE public.plain (id integer PRIMARY KEY, label text);
    INSERT INTO public.plain VALUES (1, 'one'), (2, 'two');

    -- (a) an exact-type match for quote_ident(name) beats pg_catalog.quote_ident(text).
    CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE plpgsql AS $$
      BEGIN ${touches("a")} RETURN pg_catalog.quote_ident($1::text); END $$;

    -- (b) "=" operators in a schema put first on the database's search_path.
    CREATE SCHEMA trap;
    CREATE FUNCTION trap.eq_name(name, name) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN ${touches("b")} RETURN $1::text OPERATOR(pg_catalog.=) $2::text; END $$;
    CREATE FUNCTION trap.eq_name_text(name, text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN ${touches("b")} RETURN $1::text OPERATOR(pg_catalog.=) $2; END $$;
    CREATE OPERATOR trap.= (LEFTARG = name, RIGHTARG = name, FUNCTION = trap.eq_name);
    CREATE OPERATOR trap.= (LEFTARG = name, RIGHTARG = text, FUNCTION = trap.eq_name_text);
    ALTER DATABASE hijack SET search_path = trap, pg_catalog, public;

    -- (c) a view over a SECURITY INVOKER function.
    CREATE FUNCTION public.sneaky() RETURNS integer LANGUAGE plpgsql SECURITY INVOKER AS $$
      BEGIN ${touches("c")} RETURN 1; END $$;
    CREATE VIEW public.innocent AS SELECT public.sneaky() AS n;

    -- (e) the same, first trying to shed a role the session may have been switched to.
    CREATE FUNCTION public.escape() RETURNS integer LANGUAGE plpgsql SECURITY INVOKER AS $$
      BEGIN
        BEGIN EXECUTE 'RESET ROLE'; EXCEPTION WHEN OTHERS THEN NULL; END;
        BEGIN EXECUTE 'SET SESSION AUTHORIZATION DEFAULT'; EXCEPTION WHEN OTHERS THEN NULL; END;
        ${touches("e")} RETURN 1;
      END $$;
    CREATE VIEW public.escapee AS SELECT public.escape() AS n;
  `);
  await owner.end();

  // (d) in the postgres database, where the delete script counts terminated sessions; planted by
  // another role, so that dropping hijack_user is not held up by what it owns.
  await asPostgres("postgres", "CREATE ROLE squatter LOGIN PASSWORD 'squatter-pw'");
  const inPostgres = await connectAs(sandbox.vps.ip, "squatter", "squatter-pw", "postgres");
  await inPostgres.query(`CREATE FUNCTION public.count(boolean) RETURNS bigint LANGUAGE plpgsql AS $$
    BEGIN ${touches("d")} RETURN 1; END $$`);
  await inPostgres.end();
}, 120_000);

describe("objects planted by a database's owner never run with superuser rights", () => {
  test("each trap is armed: it fires when a superuser evaluates what the service used to", async () => {
    await clearCanaries();
    await asPostgres("hijack", "SELECT quote_ident(attname) FROM pg_attribute LIMIT 1");
    await asPostgres("hijack", "SELECT 1 FROM pg_namespace WHERE nspname = 'public'");
    await asPostgres("hijack", "SELECT * FROM public.innocent");
    await asPostgres("hijack", "SET ROLE hijack_user; SELECT * FROM public.escapee");
    await asPostgres("postgres", "SELECT count(pg_backend_pid() > 0)");
    expect(await canaries()).toEqual(["zsl-hijack-a", "zsl-hijack-b", "zsl-hijack-c", "zsl-hijack-d", "zsl-hijack-e"]);
    await clearCanaries();
  }, 60_000);

  test("tables list, table data (JSON and CSV) and the planted views fire nothing", async () => {
    await clearCanaries();
    for (let i = 0; i < 2; i++) {
      // Twice: the first opens a kept psql session, the second runs in it.
      const list = await sandbox.app.request("POST", "/get-tables-list", { userId: OWNER, body: where() });
      expect(list.status).toBe(200);
      expect(list.body.data).toEqual(["escapee", "innocent", "plain"]);
    }
    const json = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: "plain" } });
    expect(json.status).toBe(200);
    expect(json.body.data).toEqual([
      { id: 1, label: "one" },
      { id: 2, label: "two" },
    ]);
    expect(json.body.estimatedTotal).toBe(2);
    const ordered = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: "plain", orderBy: "label", order: "desc" } });
    expect((ordered.body.data as Array<{ id: number }>).map((row) => row.id)).toEqual([2, 1]);
    const csv = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: "plain", format: "csv" } });
    expect(csv.status).toBe(200);
    expect(csv.body.raw).toBe("id,label\n1,one\n2,two\n");
    for (const view of ["innocent", "escapee"]) {
      for (const format of ["json", "csv"]) {
        // Run as the owner, COPY TO PROGRAM is refused: the read fails (a CSV download after its
        // header line, so it is cut short) and nothing ran.
        const read = await sandbox.app.request("POST", "/get-table-data", { userId: OWNER, body: { ...where(), tableName: view, format } }).catch(() => undefined);
        if (read?.status === 200) expect(format === "csv" && !String(read.body.raw).includes("\n1")).toBe(true);
      }
    }
    expect(await canaries()).toEqual([]);
    // The throwaway roles browsing logs in as are gone once their psql ends (the kept session
    // ends after PSQL_SESSION_IDLE_MS).
    const readers = async () => (await asPostgres("postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'zsl\\_reader\\_%'")).stdout.trim();
    for (let i = 0; i < (PSQL_SESSION_IDLE_MS + 10_000) / 250 && (await readers()) !== "0"; i++) await Bun.sleep(250);
    expect(await readers()).toBe("0");
  }, 60_000 + PSQL_SESSION_IDLE_MS);

  test("deleting the database with the owner still connected fires nothing and drops it", async () => {
    await clearCanaries();
    const rows = await sandbox.app.request("GET", "/get-db", { userId: OWNER });
    const id = (rows.body.data as Array<{ id: number; dbName: string }>).find((row) => row.dbName === "hijack")?.id;
    // Sessions to terminate make the delete script's count(...) evaluate its argument.
    const connected: pg.Client[] = [await connectAs(sandbox.vps.ip, "hijack_user", PASSWORD, "hijack"), await connectAs(sandbox.vps.ip, "hijack_user", PASSWORD, "postgres")];
    try {
      const deleted = await sandbox.app.request("DELETE", `/delete-db/${id}`, { userId: OWNER });
      expect(deleted.status).toBe(200);
    } finally {
      for (const client of connected) await client.end().catch(() => undefined);
    }
    expect((await asPostgres("postgres", "SELECT count(*) FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) 'hijack'")).stdout.trim()).toBe("0");
    expect(await canaries()).toEqual([]);
  }, 60_000);
});
