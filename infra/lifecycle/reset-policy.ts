/**
 * The reset's rules, once: whether data loss is accepted, whether a stack may reset, and the
 * verdict on a pending reset. The DatabaseReset provider (check and create), the program and the
 * review all judge a reset with these, so they cannot disagree.
 */

/** A database's reset settings, as the stack config gives them. */
export interface ResetSettings {
  generation: number;
  /** Whether this stack may reset the database. */
  allowed: boolean;
  /** The generation whose data loss the config accepted, if any. */
  acceptDataLoss?: number | undefined;
  /** `every-deploy`: the database is throwaway and resets on every deploy. */
  mode?: "generation" | "every-deploy" | undefined;
}

/**
 * Whether the stack accepted data loss for the generation it asks for. An every-deploy database
 * is declared throwaway by its mode, so every reset of it is accepted.
 */
export function acceptsDataLoss(reset: Pick<ResetSettings, "generation" | "acceptDataLoss" | "mode">): boolean {
  if (reset.mode === "every-deploy") return true;
  return reset.acceptDataLoss === reset.generation;
}

/** What the guard judges: one database's reset in one stack. */
export interface ResetGuardInput {
  stack: string;
  database: string;
  /** Config path of the reset settings, e.g. `pgstack:databases[0].reset`. */
  configPath: string;
  /** The generation recorded (in the database, or in the state); undefined when none is. */
  recorded: number | undefined;
  generation: number;
  allowed: boolean;
  mode?: "generation" | "every-deploy" | undefined;
}

/** Why the stack may not reset (a sentence with what to do), or undefined when it may. */
export function resetRefusal(r: ResetGuardInput): string | undefined {
  if (r.mode === "every-deploy" && !r.allowed) {
    return `stack "${r.stack}" does not allow resetting database "${r.database}", but ${r.configPath}.mode is "every-deploy"; set ${r.configPath}.allowed: true or remove ${r.configPath}.mode`;
  }
  if (r.recorded === undefined || r.recorded === r.generation || r.allowed) return undefined;
  return (
    `stack "${r.stack}" does not allow resetting database "${r.database}" ` +
    `(generation ${r.recorded} → ${r.generation}). ` +
    `A reset drops every managed schema. To allow it in this stack, set ${r.configPath}.allowed: true; ` +
    `otherwise restore ${r.configPath}.generation to ${r.recorded}`
  );
}

/** The verdict on a pending reset: the guard first, then the rows it would drop. */
export interface ResetVerdict {
  guard: "allowed" | "refused";
  reason: string;
}

/**
 * The verdict `pulumi up` reaches on a pending reset, before anything is dropped: refused by the
 * guard, refused because tables hold rows whose loss is not accepted, or allowed.
 */
export function resetVerdict(r: ResetGuardInput & { acceptDataLoss: boolean; tables: readonly { table: string; rows: number }[] }): ResetVerdict {
  const refused = resetRefusal(r);
  if (refused) return { guard: "refused", reason: refused };
  const withRows = r.tables.filter((t) => t.rows > 0);
  if (withRows.length > 0 && !r.acceptDataLoss) {
    return {
      guard: "refused",
      reason:
        `up refuses before dropping anything: ${withRows.map((t) => `${t.table} holds ${t.rows} row(s)`).join(", ")}; ` +
        `take a backup, then set ${r.configPath}.acceptDataLoss: ${r.generation} to accept losing them`,
    };
  }
  const why =
    withRows.length === 0
      ? "no managed table holds rows"
      : r.mode === "every-deploy"
        ? `${r.configPath}.mode is every-deploy: the database is throwaway, its data loss accepted`
        : `${r.configPath}.acceptDataLoss is ${r.generation}: the data loss is accepted`;
  return { guard: "allowed", reason: `${r.configPath}.allowed is true and ${why}; a pg_dump backup is taken first` };
}
