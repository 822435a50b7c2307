/** The scripts' one choice of backend (scripts/pulumi-env.ts): local by default, PULUMI_BACKEND_URL when set. */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { maskBackendUrl, scriptBackend } from "../../scripts/pulumi-env.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-backend-"));
fs.writeFileSync(path.join(root, "Pulumi.dev.yaml"), "config:\n  pgstack:server: { embedded: true }\nencryptionsalt: v1:team-salt\n");
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
const bin = "/opt/toolchain/bin";

describe("scriptBackend", () => {
  it("without PULUMI_BACKEND_URL: this checkout's file backend, passphrase file and working stack file", () => {
    const b = scriptBackend({ root, bin, environment: { PATH: "/usr/bin" } });
    expect(b.shared).toBe(false);
    expect(b.env["PULUMI_BACKEND_URL"]).toBe(`file://${path.join(root, ".pgstack", "state")}`);
    expect(b.env["PULUMI_CONFIG_PASSPHRASE_FILE"]).toBe(path.join(root, ".pgstack", "passphrase"));
    expect(fs.statSync(path.join(root, ".pgstack", "passphrase")).mode & 0o777).toBe(0o600);
    expect(b.env["PATH"]?.startsWith(`${bin}${path.delimiter}`)).toBe(true);
    expect(b.stackFile("dev")).toBe(path.join(root, ".pgstack", "dev", "Pulumi.dev.yaml"));
  });

  it("a passphrase in the environment wins over the checkout's file", () => {
    expect(scriptBackend({ root, bin, environment: { PULUMI_CONFIG_PASSPHRASE: "x" } }).env["PULUMI_CONFIG_PASSPHRASE_FILE"]).toBeUndefined();
    expect(scriptBackend({ root, bin, environment: { PULUMI_CONFIG_PASSPHRASE_FILE: "/run/secrets/p" } }).env["PULUMI_CONFIG_PASSPHRASE_FILE"]).toBe("/run/secrets/p");
  });

  it("with PULUMI_BACKEND_URL: that backend, the environment's passphrase, the committed stack file (its salt is the team's)", () => {
    const url = "postgres://state_user:s3cret@db.internal:5432/pulumi_state?sslmode=require";
    const b = scriptBackend({ root, bin, environment: { PULUMI_BACKEND_URL: url, PATH: "/usr/bin" } });
    expect(b.shared).toBe(true);
    expect(b.env["PULUMI_BACKEND_URL"]).toBe(url);
    expect(b.env["PULUMI_CONFIG_PASSPHRASE_FILE"]).toBeUndefined();
    expect(b.env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"]).toBe("true");
    expect(b.stackFile("dev")).toBe(path.join(root, "Pulumi.dev.yaml"));
    expect(b.label).toBe("postgres://state_user:***@db.internal:5432/pulumi_state?sslmode=require");
    expect(b.label).not.toContain("s3cret");
  });

  it("PGSTACK_PULUMI_FROM_PATH=1: the pulumi on PATH with its own login, PATH untouched", () => {
    const b = scriptBackend({ root, bin, environment: { PGSTACK_PULUMI_FROM_PATH: "1" } });
    expect(b.shared).toBe(true);
    expect(b.env["PATH"]).toBeUndefined();
    expect(b.env["PULUMI_BACKEND_URL"]).toBeUndefined();
  });

  it("masks passwords in a backend URL, wherever they are", () => {
    expect(maskBackendUrl("postgres://u@h/db?password=p4ss&sslmode=disable")).toBe("postgres://u@h/db?password=***&sslmode=disable");
    expect(maskBackendUrl("s3://bucket/state?region=eu-west-1")).toBe("s3://bucket/state?region=eu-west-1");
    expect(maskBackendUrl("not a url with secret")).not.toContain("secret");
  });
});
