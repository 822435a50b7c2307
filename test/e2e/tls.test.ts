/**
 * TLS through the plain Pulumi CLI against a PostgreSQL with `ssl = on` that the test starts, its
 * CA and server certificate (for "localhost") made with openssl: `sslmode: verify-full` with the
 * CA in a secret (`sslrootcertSecret`) reaches all three clients (pg in pgstack's providers, the
 * postgresql provider, pg_dump for the backup), the PEM never lands in plain text in the state or
 * the output, and connecting by a name the certificate does not hold fails in preview, naming it.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../infra/lifecycle/connection.js";
import { quoteIdent, quoteLiteral } from "../../infra/lifecycle/identifiers.js";
import { copyProjectForCli, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import type { TestServer } from "../support/postgres.js";
import { renamedDatabases } from "../support/stack-config.js";
import { makeCerts, startTlsServer, type TestCerts } from "../support/tls.js";

let certs: TestCerts;
let server: TestServer;
let p: CliProject;
const ADMIN = "pgstack_tls_admin";
const password = randomBytes(18).toString("base64url");

beforeAll(async () => {
  certs = makeCerts();
  server = await startTlsServer(certs);
  const su = await connect(server.admin);
  await su.query(`CREATE ROLE ${quoteIdent(ADMIN)} LOGIN CREATEROLE CREATEDB PASSWORD ${quoteLiteral(password)}`);
  await su.end();
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(certs.dir, { recursive: true, force: true });
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

/** The body of the CA certificate: what must not appear in plain text. */
const pemBody = () => certs.caPem.split("\n").filter((l) => l && !l.startsWith("-----")).slice(1, 3).join("");

describe("TLS through the Pulumi CLI", () => {
  it("verify-full with the CA in a secret: up passes on all three clients; the PEM stays secret; a wrong host name fails in preview", async () => {
    const [db] = renamedDatabases("dev", "_tls") as { name: string; backup?: boolean }[];
    p = copyProjectForCli("pgstack-tls-");
    p.ok(["stack", "init", "tls"]);
    const serverConfig = { embedded: false, host: "localhost", port: server.admin.port, adminUser: ADMIN, sslmode: "verify-full", sslrootcertSecret: "dbCa" };
    setStackConfig(p, "tls", { server: serverConfig, databases: [db], safety: { rehearsal: false } });
    setSecret(p, "tls", "pgstack:adminPassword", password);
    setSecret(p, "tls", "pgstack:dbCa", certs.caPem);

    const up = p.ok(["up", "--stack", "tls", "--yes"]);
    // Every client went over TLS: the provider made the roles and the database, pg_dump took the
    // backup (its path is an output), pgstack's providers applied the migrations.
    const outputs = JSON.parse(p.ok(["stack", "output", "--stack", "tls", "--json"]).stdout) as Record<string, { lastBackup: string; migrationHead: string }>;
    expect(outputs[db!.name]!.lastBackup).toMatch(new RegExp(`^backups/tls/${db!.name}/${db!.name}-g1-\\d{8}T\\d{6}Z\\.dump$`));
    expect(fs.statSync(path.join(p.dir, outputs[db!.name]!.lastBackup)).size).toBeGreaterThan(0);
    expect(outputs[db!.name]!.migrationHead).toMatch(/^0004_/);
    // No session of this server went without TLS.
    const su = await connect(server.admin);
    try {
      const { rows } = await su.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1 AND NOT s.ssl", [ADMIN]);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await su.end();
    }

    // The PEM: in the 0600 file the provider and pg_dump read, never in the state or the output.
    const file = path.join(p.dir, ".pgstack", "tls", "tls-dbCa.pem");
    expect(fs.readFileSync(file, "utf8").trim()).toBe(certs.caPem.trim());
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const state = p.ok(["stack", "export", "--stack", "tls"]).stdout;
    expect(state).toContain(".pgstack/tls/tls-dbCa.pem");
    expect(state).not.toContain(pemBody());
    expect(up.output).not.toContain(pemBody());
    expect(p.transcript.join("\n")).not.toContain(pemBody());

    // The certificate names "localhost" only: 127.0.0.1 is refused before anything changes.
    setStackConfig(p, "tls", { server: { ...serverConfig, host: "127.0.0.1" } });
    const wrong = p.run(["preview", "--stack", "tls"]);
    expect(wrong.status).not.toBe(0);
    expect(wrong.output).toContain(`the server's TLS certificate does not name the host "127.0.0.1" that pgstack connects to (sslmode verify-full)`);
  });
});
