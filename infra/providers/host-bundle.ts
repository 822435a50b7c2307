/**
 * One bundle of the provider handlers (`kinds.ts` and every pgstack module it imports) for
 * Pulumi's dynamic-provider host in a checkout. Loading ~70 TypeScript modules one by one through
 * tsx cost about a second on every `pulumi preview`; one prebuilt CommonJS file loads in a
 * fraction of that. The bundle is keyed by a sha256 of every source it may contain, so an edited
 * checkout never runs stale code: a changed file makes a new key, and the next host builds it.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Bundles kept per checkout (the newest; older keys are from earlier edits). */
const KEEP = 3;

/**
 * True inside Pulumi's dynamic-provider host (its entry point is `@pulumi/pulumi`'s
 * `cmd/dynamic-provider`), unless `PGSTACK_PROVIDER_BUNDLE=off`.
 */
export function inProviderHost(): boolean {
  if (process.env["PGSTACK_PROVIDER_BUNDLE"] === "off") return false;
  const main = require.main?.filename ?? process.argv[1] ?? "";
  return /[\\/]@pulumi[\\/]pulumi[\\/]cmd[\\/]dynamic-provider[\\/]/.test(main);
}

/**
 * The bundle of `<providersDir>/kinds.ts` for the sources as they are now:
 * `<checkout>/.pgstack/cache/providers/kinds-<key>.cjs`, built with esbuild when missing.
 * Undefined where there is no TypeScript source (the compiled package) or when anything fails
 * (a read-only checkout, say): the caller then loads the modules one by one, as before.
 */
export function hostBundle(providersDir: string): string | undefined {
  const entry = path.join(providersDir, "kinds.ts");
  if (!fs.existsSync(entry)) return undefined;
  const infra = path.dirname(providersDir);
  const root = path.dirname(infra);
  try {
    const dir = path.join(root, ".pgstack", "cache", "providers");
    const file = path.join(dir, `kinds-${bundleKey(root, infra).slice(0, 32)}.cjs`);
    if (fs.existsSync(file)) return file;
    fs.mkdirSync(dir, { recursive: true });
    // Written aside and renamed: a host starting meanwhile never loads half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    const esbuild = require("esbuild") as typeof import("esbuild");
    esbuild.buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      // Packages stay require()s resolved from the checkout's node_modules, as the modules' own are.
      packages: "external",
      tsconfig: path.join(root, "tsconfig.json"),
      outfile: tmp,
      logLevel: "silent",
    });
    fs.renameSync(tmp, file);
    prune(dir, file);
    return file;
  } catch {
    return undefined;
  }
}

/** sha256 of everything the bundle is made from: every `.ts` under infra/, tsconfig.json and esbuild's version. */
export function bundleKey(root: string, infra: string): string {
  const hash = createHash("sha256");
  const esbuildVersion = (require("esbuild/package.json") as { version: string }).version;
  hash.update(`esbuild ${esbuildVersion}\0`);
  hash.update(fs.readFileSync(path.join(root, "tsconfig.json")));
  for (const file of tsFiles(infra)) {
    hash.update(`\0${path.relative(infra, file)}\0`);
    hash.update(fs.readFileSync(file));
  }
  return hash.digest("hex");
}

/** Every `.ts` file under `dir`, sorted, so the key is the same on every machine. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(full));
    else if (entry.name.endsWith(".ts")) out.push(full);
  }
  return out.sort();
}

/** Removes all but the newest {@link KEEP} bundles (and never `current`). */
function prune(dir: string, current: string): void {
  const bundles = fs
    .readdirSync(dir)
    .filter((f) => /^kinds-[0-9a-f]+\.cjs$/.test(f))
    .map((f) => path.join(dir, f))
    .filter((f) => f !== current)
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  for (const old of bundles.slice(KEEP - 1)) fs.rmSync(old, { force: true });
}
