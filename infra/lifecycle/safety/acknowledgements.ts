/**
 * Acknowledgements: a comment line before a statement that accepts one finding, with a reason.
 *
 *     -- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: unused since 2024
 *
 * The class is one of the finding classes; the quoted subject is the table (`name` or
 * `schema.name`, as the finding names it), for `privilege` the object (a role, a database, a
 * server, or the statement such as `RESET ROLE`), or the rule id (always accepted). It covers the statement
 * that follows it. The syntax is checked when the migrations load, so a typo fails at file:line.
 */
import { MigrationSourceError } from "../errors.js";
import { lineColumnAt } from "../text.js";
import { FINDING_CLASSES, type Finding, type FindingClass } from "./types.js";

/** One parsed acknowledgement. */
export interface Acknowledgement {
  class: FindingClass;
  subject: string;
  reason: string;
  /** 0-based UTF-16 offset of the comment in the file. */
  offset: number;
  line: number;
}

/** A whole acknowledgement line; groups: class, subject, reason. */
const ACK = /^[ \t]*--[ \t]*pgstack:accept[ \t]+(\S+)[ \t]+"([^"]+)"[ \t]*--[ \t]*reason:[ \t]*(\S[^\r\n]*?)[ \t\r]*$/;
/** Any line starting an acknowledgement, well-formed or not. */
const ANY_ACK = /^[ \t]*--[ \t]*pgstack:accept\b[^\r\n]*/gm;
const EXAMPLE = '-- pgstack:accept data-loss "table_name" -- reason: why losing it is fine';

/**
 * Parses every acknowledgement in a file; throws {@link MigrationSourceError} at file:line:col
 * for one that is malformed.
 */
export function parseAcknowledgements(sql: string, file: string): Acknowledgement[] {
  const out: Acknowledgement[] = [];
  for (const m of sql.matchAll(ANY_ACK)) {
    const offset = m.index ?? 0;
    const at = lineColumnAt(sql, offset + (m[0].length - m[0].trimStart().length));
    const fail = (what: string) => {
      throw new MigrationSourceError(`malformed acknowledgement: ${what}`, { location: { file, ...at }, hint: `write it as \`${EXAMPLE}\` on the line before the statement` });
    };
    const a = ACK.exec(m[0]);
    if (!a) {
      if (!/"[^"]+"/.test(m[0])) fail("the subject (the table, or the lint rule) must be in double quotes");
      if (!/--[ \t]*reason:[ \t]*\S/.test(m[0].slice(m[0].indexOf("pgstack:accept") + 14))) fail('a reason is required: end the line with `-- reason: <why>`');
      fail("it does not match the form below");
      continue;
    }
    const cls = a[1] ?? "";
    if (!(FINDING_CLASSES as readonly string[]).includes(cls)) fail(`unknown class "${cls}"; use one of ${FINDING_CLASSES.join(", ")}`);
    out.push({ class: cls as FindingClass, subject: a[2] ?? "", reason: a[3] ?? "", offset, line: at.line });
  }
  return out;
}

/** Whether an acknowledgement's subject names the finding's table (`name` or `schema.name`) or rule. */
export function covers(ack: Acknowledgement, f: Finding): boolean {
  if (ack.class !== f.class) return false;
  const subject = ack.subject;
  if (f.rule === subject || f.rule.replace(/^[a-z]+\//, "") === subject) return true;
  if (f.subject !== undefined) return subject === f.subject;
  if (!f.table) return false;
  const bare = f.table.includes(".") ? f.table.slice(f.table.lastIndexOf(".") + 1) : f.table;
  return subject === f.table || subject === bare || (!f.table.includes(".") && subject === `public.${f.table}`);
}

/** The line that would acknowledge a finding, for messages. */
export function acknowledgementFor(f: Finding): string {
  const subject = f.class === "lint" ? f.rule.replace(/^[a-z]+\//, "") : (f.subject ?? f.table ?? f.rule);
  return `-- pgstack:accept ${f.class} "${subject}" -- reason: <why this is fine>`;
}
