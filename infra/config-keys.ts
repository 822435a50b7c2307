/**
 * Unknown config keys: each one is named by its own config path with the closest key the schema
 * knows there (`pgstack:sever: unknown config key; did you mean \`pgstack:server\`?`). The known
 * keys come from the zod schema itself (its strict objects), so there is no second list to keep.
 */
import type { z } from "zod";

/** The zod internals this walk reads (zod 4's `_zod.def`). */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
}

const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;

/** The object schema at `path` (array indexes step into the element), or undefined. */
function objectAt(schema: z.ZodType, path: readonly PropertyKey[]): Record<string, z.ZodType> | undefined {
  let current: z.ZodType | undefined = schema;
  let rest = [...path];
  for (let guard = 0; current && guard < 100; guard++) {
    const def = defOf(current);
    // Wrappers (defaults, optionals, transforms) hold the schema that names the keys.
    if (def.innerType) current = def.innerType;
    else if (def.type === "pipe") current = def.in;
    else if (def.type === "array") {
      if (typeof rest[0] !== "number") return undefined;
      rest = rest.slice(1);
      current = def.element;
    } else if (def.type === "object" && def.shape) {
      if (rest.length === 0) return def.shape;
      const key = rest[0];
      rest = rest.slice(1);
      current = typeof key === "string" ? def.shape[key] : undefined;
    } else return undefined;
  }
  return undefined;
}

/** Levenshtein distance, for the "did you mean" suggestion. */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key closest to `key`, when it is close enough to be a misspelling. */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(key, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  const prefix = best && (best.name.toLowerCase().startsWith(key.toLowerCase()) || key.toLowerCase().startsWith(best.name.toLowerCase()));
  return best && (best.distance <= Math.max(2, Math.floor(best.name.length / 3)) || prefix) ? best.name : undefined;
}

/**
 * One message per unknown key at `path`: its config path, the closest known key, and the keys
 * known there. At the top level the keys are Pulumi config keys themselves (`pgstack:sever`).
 */
export function unknownKeyMessages(schema: z.ZodType, path: readonly PropertyKey[], keys: readonly string[], configPath: (path: readonly PropertyKey[]) => string): string[] {
  const known = Object.keys(objectAt(schema, path) ?? {});
  const top = path.length === 0;
  return keys.map((key) => {
    const at = configPath([...path, key]);
    const near = closestKey(key, known);
    const spell = (k: string) => `\`${top ? configPath([k]) : k}\``;
    const suggestion = near ? `; did you mean ${spell(near)}?` : "";
    const list = known.length ? ` (${top ? "pgstack reads" : "known keys here:"} ${known.map(spell).join(", ")})` : "";
    return `${at}: unknown ${top ? "config key" : "key"}${suggestion}${list}`;
  });
}
