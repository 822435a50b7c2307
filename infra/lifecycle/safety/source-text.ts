/**
 * Slices of a migration's SQL text by the real scanner's tokens, for the expressions the
 * measurements re-run (a USING expression, a SELECT list, an index's keys). libpg-query has no
 * deparser in this build; the user's own text, cut at token boundaries, is the same expression.
 */
import { scanSync, type ScanToken } from "libpg-query";

/** A file's text with its tokens; offsets are UTF-8 bytes (libpg-query's unit). */
export class SourceText {
  readonly bytes: Buffer;
  private scanned?: ScanToken[];

  constructor(readonly sql: string) {
    this.bytes = Buffer.from(sql, "utf8");
  }

  /** The file's tokens, scanned on first use (most files never need them). */
  get tokens(): ScanToken[] {
    this.scanned ??= scanSync(this.sql).tokens;
    return this.scanned;
  }

  /** The text between two byte offsets. */
  slice(start: number, end: number): string {
    return this.bytes.subarray(start, end).toString("utf8").trim();
  }

  /** Byte offset of a 0-based UTF-16 offset. */
  byteOffset(charOffset: number): number {
    return Buffer.byteLength(this.sql.slice(0, charOffset), "utf8");
  }

  /** Index of the first token starting at or after `byte`. */
  tokenAt(byte: number): number {
    const i = this.tokens.findIndex((t) => t.start >= byte);
    return i < 0 ? this.tokens.length : i;
  }

  /**
   * From the token at `start`, the text up to (not including) the first token at parenthesis
   * depth 0 for which `stop` holds, or up to `limit`. Returns the text and the stop token's index.
   */
  until(start: number, limit: number, stop: (word: string, index: number) => boolean): { text: string; end: number; stopIndex: number } {
    let depth = 0;
    let i = this.tokenAt(start);
    let end = limit;
    for (; i < this.tokens.length; i++) {
      const t = this.tokens[i]!;
      if (t.start >= limit) break;
      if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") {
        if (depth === 0) {
          end = t.start;
          break;
        }
        depth--;
      } else if (depth === 0 && stop(t.text.toUpperCase(), i)) {
        end = t.start;
        break;
      }
    }
    return { text: this.slice(start, Math.min(end, limit)), end: Math.min(end, limit), stopIndex: i };
  }

  /** The upper-cased word of token `i`, or "" past the end. */
  word(i: number): string {
    return this.tokens[i]?.text.toUpperCase() ?? "";
  }

  /** Indexes of depth-0 tokens in [start, limit) whose word is `w`. */
  findWords(start: number, limit: number, w: string): number[] {
    const out: number[] = [];
    let depth = 0;
    for (let i = this.tokenAt(start); i < this.tokens.length; i++) {
      const t = this.tokens[i]!;
      if (t.start >= limit) break;
      if (t.text === "(" || t.text === "[") depth++;
      else if (t.text === ")" || t.text === "]") depth--;
      else if (depth === 0 && t.text.toUpperCase() === w) out.push(i);
    }
    return out;
  }

  /**
   * The top-level comma-separated items of the parenthesised list that opens at or after
   * `start` (e.g. an index's keys), each as text.
   */
  parenList(start: number, limit: number): string[] | undefined {
    let i = this.tokenAt(start);
    while (i < this.tokens.length && this.tokens[i]!.text !== "(" && this.tokens[i]!.start < limit) i++;
    const open = this.tokens[i];
    if (!open || open.text !== "(") return undefined;
    const items: string[] = [];
    let depth = 0;
    let itemStart = open.end;
    for (i++; i < this.tokens.length; i++) {
      const t = this.tokens[i]!;
      if (t.text === "(" || t.text === "[") depth++;
      else if ((t.text === ")" || t.text === "]") && depth > 0) depth--;
      else if (t.text === ")" || (t.text === "," && depth === 0)) {
        items.push(this.slice(itemStart, t.start));
        if (t.text === ")") return items;
        itemStart = t.end;
      }
    }
    return undefined;
  }
}
