/**
 * TLS against a real PostgreSQL with `ssl = on` that the harness starts, with a CA and a server
 * certificate (for "localhost") made here with openssl: every sslmode as pg (pgstack's connect)
 * and pg_dump (with the backup's own libpq environment) take it, and the errors name the host
 * and what to set.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupEnvironment } from "../../infra/components/database.js";
import { connect, ConnectionError, type ConnectionOptions, type SslMode } from "../../infra/lifecycle/index.js";
import { adminConnection } from "../support/db.js";
import { DEBIAN_BIN, type TestServer } from "../support/postgres.js";
import { makeCerts, startTlsServer, type TestCerts } from "../support/tls.js";

let certs: TestCerts;
let server: TestServer;
beforeAll(async () => {
  certs = makeCerts();
  server = await startTlsServer(certs);
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(certs.dir, { recursive: true, force: true });
});

const at = (host: string, sslmode: SslMode, sslrootcert?: string): ConnectionOptions => ({ ...server.admin, host, sslmode, ...(sslrootcert ? { sslrootcert } : {}) });

/** Whether the session is encrypted, as the server sees it; or the connection error. */
async function tlsOf(c: ConnectionOptions): Promise<boolean | ConnectionError> {
  try {
    const client = await connect(c, { retryDelaysMs: [] });
    try {
      return (await client.query<{ ssl: boolean }>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0]!.ssl;
    } finally {
      await client.end();
    }
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectionError);
    return err as ConnectionError;
  }
}

describe("TLS as pg takes it", () => {
  it("verify-full passes with the CA; fails without it, naming the host and the CA to set", async () => {
    expect(await tlsOf(at("localhost", "verify-full", certs.caPem))).toBe(true);
    const err = await tlsOf(at("localhost", "verify-full"));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).message).toContain(`cannot connect to postgres@localhost:${server.admin.port}/postgres`);
    expect((err as ConnectionError).hint).toBe(
      `the server's TLS certificate for "localhost" is signed by a CA pgstack was not given (sslmode verify-full verifies it): set pgstack:server.sslrootcert to the CA's PEM file, or sslrootcertSecret to a secret holding it`,
    );
    const wrongCa = await tlsOf(at("localhost", "verify-full", fs.readFileSync(certs.otherCaFile, "utf8")));
    expect((wrongCa as ConnectionError).hint).toContain(`does not chain to the CA in pgstack:server.sslrootcert`);
  });

  it("verify-full fails on a host name the certificate does not hold; verify-ca checks the CA only", async () => {
    const err = await tlsOf(at("127.0.0.1", "verify-full", certs.caPem));
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).message).toMatch(/127\.0\.0\.1/);
    expect((err as ConnectionError).hint).toContain(`the server's TLS certificate does not name the host "127.0.0.1" that pgstack connects to (sslmode verify-full)`);
    expect(await tlsOf(at("127.0.0.1", "verify-ca", certs.caPem))).toBe(true);
    expect(await tlsOf(at("127.0.0.1", "verify-ca", fs.readFileSync(certs.otherCaFile, "utf8")))).toBeInstanceOf(ConnectionError);
  });

  it("require encrypts without verifying, and verifies the chain when given a CA (libpq's rule); prefer and disable as libpq", async () => {
    expect(await tlsOf(at("127.0.0.1", "require"))).toBe(true);
    expect(await tlsOf(at("127.0.0.1", "require", fs.readFileSync(certs.otherCaFile, "utf8")))).toBeInstanceOf(ConnectionError);
    expect(await tlsOf(at("127.0.0.1", "prefer"))).toBe(true);
    expect(await tlsOf(at("127.0.0.1", "disable"))).toBe(false);
    // prefer on a server without TLS (the suites' own): a plain connection, as libpq makes it.
    expect(await tlsOf({ ...adminConnection(), sslmode: "prefer" })).toBe(false);
    const refused = await tlsOf({ ...adminConnection(), sslmode: "require" });
    expect((refused as ConnectionError).hint).toContain("does not offer TLS");
  });
});

describe("TLS as pg_dump takes it (the backup's environment)", () => {
  // Debian's pg_dump 15 is the client here, and it dumps 15 and older only (a newer server is
  // refused before TLS matters, see client-tools.ts): its own TLS server is a 15, on every matrix run.
  let dumpServer: TestServer;
  beforeAll(async () => {
    dumpServer = await startTlsServer(certs, { major: 15 });
  });
  afterAll(async () => {
    await dumpServer?.stop();
  });

  /** pg_dump --schema-only with the backup's PG* variables; its exit and stderr. */
  function dump(host: string, sslmode: SslMode, caFile?: string): { ok: boolean; stderr: string } {
    const env = backupEnvironment({ host, port: dumpServer.admin.port, adminUser: dumpServer.admin.user, sslmode }, "postgres", dumpServer.admin.password ?? "", caFile);
    expect(JSON.stringify(Object.values(env))).not.toContain("BEGIN CERTIFICATE");
    try {
      // HOME elsewhere: libpq's default root.crt (~/.postgresql) must not stand in for the CA.
      execFileSync(`${DEBIAN_BIN}/pg_dump`, ["--schema-only", "--no-password", "-f", "/dev/null"], { env: { PATH: process.env["PATH"], HOME: certs.dir, ...env } as NodeJS.ProcessEnv, stdio: "pipe" });
      return { ok: true, stderr: "" };
    } catch (err) {
      return { ok: false, stderr: String((err as { stderr?: Buffer }).stderr ?? "") };
    }
  }

  it("verify-full: with the CA file, yes; without it, or for another host name, no; verify-ca and require as pg", () => {
    expect(dump("localhost", "verify-full", certs.caFile)).toEqual({ ok: true, stderr: "" });
    expect(dump("localhost", "verify-full").stderr).toMatch(/root certificate file .* does not exist/);
    expect(dump("127.0.0.1", "verify-full", certs.caFile).stderr).toMatch(/server certificate for "localhost" .*does not match host name "127\.0\.0\.1"/);
    expect(dump("127.0.0.1", "verify-ca", certs.caFile).ok).toBe(true);
    expect(dump("127.0.0.1", "require", certs.otherCaFile).ok).toBe(false);
    expect(dump("127.0.0.1", "require").ok).toBe(true);
    expect(dump("127.0.0.1", "prefer").ok).toBe(true);
  });
});
