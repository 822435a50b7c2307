/** Offsets in SQL text, turned into the file:line:column users read. */

/** 1-based line and column of a 0-based UTF-16 offset into `text`. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: clamped - lineStart + 1 };
}

/** Converts a 0-based UTF-8 byte offset (libpg-query's unit) to a UTF-16 offset. */
export function byteToCharOffset(text: string, byteOffset: number): number {
  return Buffer.from(text, "utf8").subarray(0, byteOffset).toString("utf8").length;
}

/**
 * Converts Postgres' 1-based *character* position (code points) to a 0-based UTF-16 offset.
 */
export function pgPositionToOffset(text: string, position: number): number {
  let offset = 0;
  let chars = 0;
  for (const ch of text) {
    if (chars === position - 1) break;
    offset += ch.length;
    chars++;
  }
  return offset;
}

/** The line at `line` (1-based) with a caret under `column`, for error messages. */
export function snippet(text: string, line: number, column: number): string {
  const src = text.split("\n")[line - 1] ?? "";
  return `    ${src}\n    ${" ".repeat(Math.max(0, column - 1))}^`;
}
