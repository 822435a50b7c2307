/** The safe way to do each risky change: the expand/contract steps a runbook would list. */
export const ALTERNATIVES = {
  dropTable:
    "check the table is unused and empty (or copy its rows elsewhere first); to drop it anyway, acknowledge it on the line before the statement",
  deleteAll: "add a WHERE clause, or TRUNCATE deliberately with an acknowledgement; keep a backup of the rows first",
  updateAll: "add a WHERE clause that picks the rows to change; backfill in batches on big tables",
  dropColumn:
    "contract in steps: 1) deploy code that no longer reads or writes the column, 2) copy the values elsewhere if they matter, 3) drop it in a later migration",
  changeType:
    "expand/contract: 1) add a new column of the new type, 2) backfill it with the cast and fix the rows that fail it, 3) switch the code, 4) drop the old column",
  copyCasts: "fix or delete the rows that fail the cast before the copy (or convert them with a CASE), then copy and swap",
  setNotNull:
    "backfill the NULL rows first (UPDATE … WHERE col IS NULL); on big tables add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL",
  addRequiredColumn: "add the column with a DEFAULT (or nullable), backfill it, then SET NOT NULL in a later migration",
  foreignKey:
    "delete or fix the orphan rows first; on big tables ADD CONSTRAINT … NOT VALID, then VALIDATE CONSTRAINT in a later migration",
  unique: "remove the duplicates first; on big tables CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT … UNIQUE USING INDEX",
  renameTable:
    "rename in 3 steps: 1) create the new name (a view, or the new table kept in sync) and deploy code that uses it, 2) move every reader and writer, 3) drop the old name",
  renameColumn:
    "rename in 3 steps: 1) add the new column and write both, backfill it, 2) deploy code that reads the new column, 3) drop the old column",
} as const;
