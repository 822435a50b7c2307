/**
 * The `pgstack:` namespace as a whole (unknown keys refused with the closest known one), TLS
 * settings as libpq means them, and settings that need a newer PostgreSQL (MAINTAIN).
 */
import { describe, expect, it } from "vitest";
import { ConfigError, namespaceKeys, parseStackConfig, parseStackKeys } from "../../infra/config.js";
import { closestKey } from "../../infra/config-keys.js";
import { versionNeeds } from "../../infra/components/database.js";
import { tlsOptions } from "../../infra/lifecycle/connection.js";

const db = { name: "a", owner: "a_owner", roles: [{ name: "a_owner" }, { name: "a_app", login: true, passwordSecret: "appPw" }], grants: [{ role: "a_app", schema: "public", tablePrivileges: ["SELECT", "MAINTAIN"] }] };

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected a config error");
}

describe("the pgstack: namespace", () => {
  it("refuses a misspelt top-level key with its config path and the closest known key", () => {
    const keys = namespaceKeys({ "pgstack:sever": { host: "db" }, "pgstack:databases": [db], "pgstack:adminPassword": { secure: "x" }, "pgstack:appPw": { secure: "y" }, "other:key": 1 });
    expect(keys).not.toHaveProperty("other:key");
    expect(issues(() => parseStackKeys(keys, "prod"))).toEqual([
      "pgstack:sever: unknown config key; did you mean `pgstack:server`? (pgstack reads `pgstack:server`, `pgstack:databases`, `pgstack:safety`)",
    ]);
  });

  it("accepts the secrets the config names (admin password, CA, role passwords), and nothing else unknown", () => {
    const server = { host: "db", sslmode: "verify-full", sslrootcertSecret: "dbCa", adminPasswordSecret: "adminPw" };
    const ok = parseStackKeys({ server, databases: [db], adminPw: true, dbCa: true, appPw: true }, "prod");
    expect(ok.server.sslrootcertSecret).toBe("dbCa");
    // A secret key the config does not name is an unknown key (a typo of one it does name, here).
    expect(issues(() => parseStackKeys({ server, databases: [db], adminPw: true, dbCa: true, appPW: true, zzz: 1 }, "prod"))).toEqual([
      expect.stringMatching(/^pgstack:appPW: unknown config key \(pgstack reads/),
      expect.stringMatching(/^pgstack:zzz: unknown config key \(pgstack reads/),
    ]);
  });

  it("names nested unknown keys by their path with the closest key there", () => {
    const raw = { server: { host: "db", sslmod: "require" }, databases: [{ ...db, grants: [{ role: "a_app", schema: "public", tablePrivilges: ["SELECT"] }] }] };
    expect(issues(() => parseStackConfig(raw, "dev"))).toEqual([
      expect.stringMatching(/^pgstack:server\.sslmod: unknown key; did you mean `sslmode`\? \(known keys here: `embedded`, `host`/),
      expect.stringMatching(/^pgstack:databases\[0\]\.grants\[0\]\.tablePrivilges: unknown key; did you mean `tablePrivileges`\?/),
    ]);
  });

  it("suggests only keys close enough to be a misspelling", () => {
    expect(closestKey("sever", ["server", "databases", "safety"])).toBe("server");
    expect(closestKey("database", ["server", "databases", "safety"])).toBe("databases");
    expect(closestKey("backend", ["server", "databases", "safety"])).toBeUndefined();
  });
});

describe("TLS settings", () => {
  it("accepts libpq's five sslmodes and a CA as a file or a secret, not both, and not where it is unused", () => {
    for (const sslmode of ["disable", "prefer", "require", "verify-ca", "verify-full"]) {
      expect(parseStackConfig({ server: { sslmode }, databases: [db] }, "prod").server.sslmode).toBe(sslmode);
    }
    expect(issues(() => parseStackConfig({ server: { sslmode: "verify-full", sslrootcert: "ca.pem", sslrootcertSecret: "dbCa" }, databases: [db] }, "prod"))).toEqual([
      "pgstack:server.sslrootcertSecret: give the CA either as a file (sslrootcert) or as a secret (sslrootcertSecret), not both",
    ]);
    expect(issues(() => parseStackConfig({ server: { sslmode: "prefer", sslrootcert: "ca.pem" }, databases: [db] }, "prod"))).toEqual([
      "pgstack:server.sslrootcert: a CA certificate is only used with sslmode require, verify-ca or verify-full, and sslmode is prefer: set one of those, or remove sslrootcert",
    ]);
    expect(issues(() => parseStackConfig({ server: { sslmode: "allow" }, databases: [db] }, "prod"))[0]).toMatch(/^pgstack:server\.sslmode: .*"verify-ca"/);
  });

  it("gives pg the TLS libpq gives pg_dump for the same sslmode and CA", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n";
    expect(tlsOptions({ sslmode: "disable", sslrootcert: ca })).toBe(false);
    expect(tlsOptions({ sslmode: "prefer" })).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions({ sslmode: "require" })).toEqual({ rejectUnauthorized: false });
    // libpq: require with a root certificate verifies the chain, as verify-ca.
    const requireWithCa = tlsOptions({ sslmode: "require", sslrootcert: ca }) as { ca: string; rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
    expect(requireWithCa).toMatchObject({ ca, rejectUnauthorized: true });
    expect(requireWithCa.checkServerIdentity()).toBeUndefined();
    const verifyCa = tlsOptions({ sslmode: "verify-ca", sslrootcert: ca }) as { checkServerIdentity?: () => unknown };
    expect(verifyCa.checkServerIdentity?.()).toBeUndefined();
    // verify-full keeps Node's host name check.
    expect(tlsOptions({ sslmode: "verify-full", sslrootcert: ca })).toEqual({ ca, rejectUnauthorized: true });
  });
});

describe("settings that need a newer PostgreSQL", () => {
  it("takes MAINTAIN in table privileges and marks it as needing PostgreSQL 17, at its config path", () => {
    const cfg = parseStackConfig({ databases: [db] }, "dev");
    expect(cfg.databases[0]!.grants[0]!.tablePrivileges).toEqual(["SELECT", "MAINTAIN"]);
    expect(versionNeeds(cfg.databases[0]!, "pgstack:databases[0]")).toEqual([
      expect.objectContaining({ configPath: "pgstack:databases[0].grants[0].tablePrivileges", major: 17, what: expect.stringContaining("MAINTAIN") }),
    ]);
    const without = parseStackConfig({ databases: [{ ...db, grants: [] }] }, "dev");
    expect(versionNeeds(without.databases[0]!, "pgstack:databases[0]")).toEqual([]);
  });

  it("refuses role names of PostgreSQL's predefined roles (pg_database_owner, pg_signal_backend…)", () => {
    const raw = { databases: [{ ...db, owner: "pg_database_owner", roles: [{ name: "pg_database_owner" }], grants: [] }] };
    expect(issues(() => parseStackConfig(raw, "dev"))).toContainEqual(expect.stringMatching(/^pgstack:databases\[0\]\.roles\[0\]\.name: "pg_database_owner": names starting with pg_ belong to PostgreSQL's predefined roles/));
  });
});
