import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { backup, database, role, schema } from "../../infra/providers/handlers.js";
import { adminConnection, freshDatabase, query } from "../support/db.js";
import { inject } from "vitest";

describe("pgstack's own providers for cluster objects (provisioner: pgstack)", () => {
  it("creates, adopts, reads and drops roles and databases; a schema carries its grants; a backup is restorable", async () => {
    const admin = adminConnection();
    const suffix = Math.random().toString(36).slice(2, 8);
    const owner = { connection: admin, name: `own_${suffix}`, login: false };
    const app = { connection: admin, name: `app_${suffix}`, login: true, password: "s3cret-app-password" };
    await role.create(owner);
    await role.create(app);
    // Creating again adopts the existing role instead of failing.
    await role.create(app);
    expect(await query(admin, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", [app.name])).toEqual([{ rolcanlogin: true }]);
    // The server only ever saw a SCRAM verifier, and the password logs in.
    expect((await query(admin, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", [app.name]))[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect((await query({ ...admin, user: app.name, password: app.password }, "SELECT current_user AS u"))[0]).toEqual({ u: app.name });
    // A non-ASCII password works too (normalized as Postgres' SASLprep does).
    await role.update(app.name, app, { ...app, password: "pässwörd-ｆｕｌｌ" });
    expect((await query({ ...admin, user: app.name, password: "pässwörd-ｆｕｌｌ" }, "SELECT current_user AS u"))[0]).toEqual({ u: app.name });
    await role.update(app.name, app, app);

    const db = { connection: admin, name: `db_${suffix}`, owner: owner.name };
    await database.create(db);
    expect((await database.read(db.name, db)).props).toEqual(db);
    const conn = { ...admin, database: db.name };
    const managed = { name: "public", owner: owner.name, grants: [{ role: app.name, schema: ["USAGE" as const], tables: ["SELECT" as const], sequences: [] }] };
    await schema.create({ connection: conn, schema: managed });
    await query(conn, `SET ROLE ${owner.name}; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)`);
    expect(await query(conn, `SELECT has_table_privilege('${app.name}', 'public.t', 'SELECT') AS s, has_table_privilege('${app.name}', 'public.t', 'INSERT') AS i`)).toEqual([{ s: true, i: false }]);

    // Drift in a role shows on read.
    await query(admin, `ALTER ROLE ${app.name} NOLOGIN`);
    expect((await role.read(app.name, app)).props?.login).toBe(false);

    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-backup-"));
    const made = await backup.create({ connection: conn, root, dir: "backups/test", generation: 3 });
    expect(made.outs.path).toMatch(new RegExp(`^backups/test/${db.name}-g3-\\d{8}T\\d{6}Z\\.dump$`));
    const bin = inject("pgBinDir") || "/usr/lib/postgresql/15/bin";
    const listing = execFileSync(path.join(bin, "pg_restore"), ["--list", path.join(root, made.outs.path)], { encoding: "utf8" });
    expect(listing).toContain("TABLE DATA public t");
    expect((await backup.diff("id", made.outs, { connection: conn, root, dir: "backups/test", generation: 4 })).replaces).toEqual(["generation"]);

    await database.delete(db.name, db);
    expect(await database.read(db.name, db)).toEqual({});
    await role.delete(app.name, app);
    await role.delete(owner.name, owner);
    expect(await role.read(app.name, app)).toEqual({});
  });

  it("a failed backup says what happened and leaves no file", async () => {
    const conn = await freshDatabase();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-backup-"));
    const err = (await backup.create({ connection: { ...conn, database: "no_such_db" }, root, dir: "b", generation: 1 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('pg_dump of "no_such_db" failed');
    expect(err.message).toContain("nothing was reset");
    expect(fs.readdirSync(path.join(root, "b"))).toEqual([]);
  });
});
