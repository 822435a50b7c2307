/**
 * Postgres identifiers from config: validated before use, quoted with `pg`'s own
 * escaping when interpolated into SQL.
 */
import pg from "pg";

/** Postgres truncates identifiers longer than NAMEDATALEN-1 bytes (63). */
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * Why this rule: config identifiers become role, schema and database names. We only accept
 * names that mean the same quoted and unquoted (lowercase, digits, `_`, `$`), so a
 * hand-written `psql` query finds the same object pgstack created.
 */
const IDENTIFIER = /^[a-z_][a-z0-9_$]*$/;

/** Returns why `name` is not an acceptable identifier, or undefined if it is. */
export function identifierProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_IDENTIFIER_BYTES) {
    return `is ${bytes} bytes long; Postgres identifiers are at most ${MAX_IDENTIFIER_BYTES} bytes`;
  }
  if (!IDENTIFIER.test(name)) {
    return `must start with a lowercase letter or _ and contain only lowercase letters, digits, _ and $; ${firstBadCharacter(name)}`;
  }
  if (name.startsWith("pg_")) return 'must not start with "pg_" (reserved for system objects)';
  return undefined;
}

/** Characters people paste into names by accident, named so the message is readable. */
const CHARACTER_NAMES: Record<string, string> = {
  '"': "a double quote",
  "'": "a single quote",
  ";": "a semicolon",
  " ": "a space",
  "\0": "a NUL character",
  "\t": "a tab",
  "\n": "a line break",
  "-": "a hyphen",
  ".": "a dot",
};

/**
 * Says which character breaks the rule and where (1-based, in characters), so that an
 * invisible one (NUL, a trailing space) can be found.
 */
function firstBadCharacter(name: string): string {
  const chars = [...name];
  const at = chars.findIndex((ch, i) => !(i === 0 ? /[a-z_]/ : /[a-z0-9_$]/).test(ch));
  const ch = chars[at] ?? "";
  const code = ch.codePointAt(0) ?? 0;
  const where = `at character ${at + 1}`;
  if (CHARACTER_NAMES[ch]) return `found ${CHARACTER_NAMES[ch]} ${where}`;
  if (/[A-Z]/.test(ch)) return `found the uppercase letter "${ch}" ${where} (use lowercase)`;
  if (code < 0x20 || code === 0x7f) return `found the control character U+${code.toString(16).toUpperCase().padStart(4, "0")} ${where}`;
  return `found "${ch}" ${where}`;
}

/** Quotes an identifier for SQL text (`pg`'s escaping: doubles embedded quotes). */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}

/** Quotes a string literal for SQL text (`pg`'s escaping). */
export function quoteLiteral(value: string): string {
  return pg.escapeLiteral(value);
}

/** `"schema"."name"`. */
export function qualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/** Names that read the same quoted and unquoted; anything else is shown in double quotes. */
const PLAIN_NAME = /^[a-z_][a-z0-9_$]*$/;

/**
 * A name as SQL spells it: as-is when it needs no quotes (`users`), else quoted with `pg`'s
 * escaping (`"bazaar-vid_exports"`, `"Users"`). For messages and outputs.
 */
export function displayIdent(name: string): string {
  return PLAIN_NAME.test(name) ? name : quoteIdent(name);
}

/** `schema.table` (or any dotted path) with each part quoted only where it needs it. */
export function displayQualified(...parts: string[]): string {
  return parts.map(displayIdent).join(".");
}

/** The result of {@link parseQualifiedName}: the parts, or why the text is not a name and what to write instead. */
export type ParsedName = { ok: true; parts: string[] } | { ok: false; problem: string };

/**
 * Parses a dotted name as Postgres reads one: `users`, `public.users`, `"bazaar-vid_exports"`,
 * `public."bazaar-vid_exports".id`. A quoted part keeps its exact spelling (`""` is one quote).
 * Unquoted parts must be lowercase (Postgres folds them, so `Users` would silently mean
 * `users`): a name with capitals, hyphens or spaces is refused with the spelling to use.
 */
export function parseQualifiedName(text: string): ParsedName {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let name = "";
      let j = i + 1;
      for (;;) {
        if (j >= text.length) return { ok: false, problem: `has an unterminated double quote at character ${i + 1}; close it: "name"` };
        if (text[j] === '"') {
          if (text[j + 1] === '"') {
            name += '"';
            j += 2;
            continue;
          }
          break;
        }
        name += text[j];
        j++;
      }
      if (name.length === 0) return { ok: false, problem: `has an empty quoted name ("") at character ${i + 1}` };
      parts.push(name);
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && text[j] !== ".") j++;
      const name = text.slice(i, j);
      if (name.length === 0) return { ok: false, problem: i === 0 && text.length === 0 ? "must not be empty" : `has an empty name part at character ${i + 1}` };
      if (name.includes('"')) return { ok: false, problem: `has a double quote inside the unquoted name ${JSON.stringify(name)}; quote the whole part: ${quotedSuggestion(text)}` };
      if (!PLAIN_NAME.test(name)) {
        const why = /[A-Z]/.test(name) && /^[A-Za-z_][A-Za-z0-9_$]*$/.test(name)
          ? `has capitals; Postgres folds unquoted names to lowercase, so write ${JSON.stringify(name.toLowerCase())} for the table created as ${name}, or ${quotedSuggestion(text)} for one created with quotes`
          : `needs double quotes in SQL (it has ${firstBadCharacter(name).replace(/^found /, "")}); write ${quotedSuggestion(text)}`;
        return { ok: false, problem: `${JSON.stringify(name)} ${why}` };
      }
      parts.push(name);
      i = j;
    }
    const last = parts[parts.length - 1] ?? "";
    // A UTF-16 unit is at most 3 bytes of UTF-8: short names need no count (the reader parses thousands).
    if (last.length * 3 > MAX_IDENTIFIER_BYTES && Buffer.byteLength(last, "utf8") > MAX_IDENTIFIER_BYTES) {
      return { ok: false, problem: `${JSON.stringify(last)} is longer than Postgres' ${MAX_IDENTIFIER_BYTES} bytes` };
    }
    if (i >= text.length) return { ok: true, parts };
    if (text[i] !== ".") return { ok: false, problem: `has ${JSON.stringify(text[i])} after a quoted name at character ${i + 1}; separate parts with dots` };
    i++;
    if (i >= text.length) return { ok: false, problem: "ends with a dot" };
  }
}

/**
 * The text with each unquoted part that needs quotes quoted, as a YAML-safe suggestion:
 * `'"bazaar-vid_exports".id'` (single quotes keep YAML from eating the double ones).
 */
function quotedSuggestion(text: string): string {
  // With quotes already present the parts cannot be split naively; show the text as written.
  const fixed = text.includes('"') ? text : text.split(".").map((p) => (PLAIN_NAME.test(p) ? p : quoteIdent(p))).join(".");
  return `'${fixed}'`;
}
