import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { bundleKey, hostBundle, inProviderHost } from "../../infra/providers/host-bundle.js";
import { tempDir } from "../support/temp.js";

const root = path.resolve(__dirname, "..", "..");

/** A checkout-shaped folder: tsconfig.json and infra/providers/kinds.ts importing a sibling. */
function fakeCheckout(): { dir: string; providers: string } {
  const dir = tempDir("pgstack-bundle-");
  const providers = path.join(dir, "infra", "providers");
  fs.mkdirSync(providers, { recursive: true });
  fs.writeFileSync(path.join(dir, "tsconfig.json"), "{}");
  fs.writeFileSync(path.join(providers, "kinds.ts"), 'import { value } from "./value.js";\nexport const handlers = { value };\n');
  fs.writeFileSync(path.join(providers, "value.ts"), "export const value: number = 1;\n");
  return { dir, providers };
}

describe("the provider host's bundle", () => {
  it("is not used outside Pulumi's dynamic-provider host", () => {
    expect(inProviderHost()).toBe(false);
  });

  it("bundles the project's handlers: one file that loads every kind", () => {
    const file = hostBundle(path.join(root, "infra", "providers"));
    expect(file).toMatch(/[\\/]\.pgstack[\\/]cache[\\/]providers[\\/]kinds-[0-9a-f]{32}\.cjs$/);
    const loaded = require(file as string) as { handlers: Record<string, unknown> };
    expect(Object.keys(loaded.handlers).sort()).toEqual(["everyDeploy", "guard", "membership", "migrations", "password", "reset", "safety", "verification"]);
  });

  it("never serves stale code: an edited source makes a new key and a new bundle with the edit", () => {
    const { dir, providers } = fakeCheckout();
    const first = hostBundle(providers) as string;
    expect((require(first) as { handlers: { value: number } }).handlers.value).toBe(1);
    const key = bundleKey(dir, path.join(dir, "infra"));
    fs.writeFileSync(path.join(providers, "value.ts"), "export const value: number = 2;\n");
    expect(bundleKey(dir, path.join(dir, "infra"))).not.toBe(key);
    const second = hostBundle(providers) as string;
    expect(second).not.toBe(first);
    expect((require(second) as { handlers: { value: number } }).handlers.value).toBe(2);
    // The same sources again: the same file, not rebuilt.
    const mtime = fs.statSync(second).mtimeMs;
    expect(hostBundle(providers)).toBe(second);
    expect(fs.statSync(second).mtimeMs).toBe(mtime);
  });

  it("keeps the newest three bundles", () => {
    const { providers } = fakeCheckout();
    for (let v = 1; v <= 5; v++) {
      fs.writeFileSync(path.join(providers, "value.ts"), `export const value: number = ${v};\n`);
      expect(hostBundle(providers)).toBeDefined();
    }
    const dir = path.join(providers, "..", "..", ".pgstack", "cache", "providers");
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".cjs"))).toHaveLength(3);
  });

  it("gives nothing where there is no TypeScript source (the compiled package) or the bundle cannot be built", () => {
    const { dir, providers } = fakeCheckout();
    fs.rmSync(path.join(providers, "kinds.ts"));
    expect(hostBundle(providers)).toBeUndefined();
    fs.writeFileSync(path.join(providers, "kinds.ts"), "export const handlers = {\n");
    expect(hostBundle(providers)).toBeUndefined();
    expect(fs.existsSync(path.join(dir, ".pgstack", "cache", "providers")) ? fs.readdirSync(path.join(dir, ".pgstack", "cache", "providers")).filter((f) => f.endsWith(".cjs")) : []).toEqual([]);
  });
});
