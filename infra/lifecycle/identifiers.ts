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
