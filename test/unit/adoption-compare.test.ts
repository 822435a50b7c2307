/**
 * Adoption's comparison (ported from the old baseline-structure tests): the one differ with
 * `structureOnly`, by name, ignoring column order, owners and grants, in adoption's wording.
 */
import { describe, expect, it } from "vitest";
import { ADOPTION_LABELS } from "../../infra/lifecycle/baseline.js";
import { diffSchemas, type ConstraintStructure, type SchemaSnapshot, type TableStructure } from "../../infra/lifecycle/schema/index.js";

const unique = (...columns: string[]): ConstraintStructure => ({ kind: "unique", definition: `UNIQUE (${columns.join(", ")})`, columns });
const primaryKey = (column: string): ConstraintStructure => ({ kind: "primary key", definition: `PRIMARY KEY (${column})`, columns: [column] });

const users = (over: Partial<TableStructure> = {}): TableStructure => ({
  owner: "app_owner",
  columns: { id: { type: "bigint", nullable: false, default: "identity" }, email: { type: "text", nullable: false, default: null } },
  constraints: { users_email_key: unique("email"), users_pkey: primaryKey("id") },
  indexes: {},
  grants: {},
  ...over,
});
const snapshot = (tables: Record<string, TableStructure>): SchemaSnapshot => ({ tables, history: [] }) as unknown as SchemaSnapshot;
const compare = (declared: SchemaSnapshot, live: SchemaSnapshot) => diffSchemas(declared, live, { history: false, structureOnly: true, labels: ADOPTION_LABELS });

describe("adoption's structural comparison", () => {
  it("equal structures differ in nothing, whatever the column order, owner and grants", () => {
    const reordered = users({ owner: "postgres", grants: { PUBLIC: "SELECT" }, columns: { email: users().columns["email"]!, id: users().columns["id"]! } });
    expect(compare(snapshot({ "public.users": users() }), snapshot({ "public.users": reordered }))).toEqual([]);
  });

  it("names each difference by object, + only in the database and - only in the migrations", () => {
    const live = users({
      columns: {
        id: { type: "integer", nullable: false, default: "nextval('users_id_seq'::regclass)" },
        email: { type: "text", nullable: true, default: null },
        nickname: { type: "text", nullable: true, default: "''::text" },
      },
      constraints: { users_email_key: unique("email", "id"), users_pkey: primaryKey("id") },
    });
    const lines = compare(
      snapshot({ "public.users": users({ indexes: { "public.users_team_idx": "CREATE INDEX users_team_idx ON public.users USING btree (email)" } }), "public.teams": users() }),
      snapshot({ "public.users": live, "public.legacy": users() }),
    );
    expect(lines).toEqual([
      "+ table public.legacy (only in the database)",
      "- table public.teams (only in the migrations)",
      "~ public.users: ~ column id: type bigint → integer, default identity → nextval('users_id_seq'::regclass)",
      "~ public.users: ~ column email: not null → nullable",
      "~ public.users: + column nickname text default ''::text (only in the database)",
      "~ public.users: ~ constraint users_email_key: UNIQUE (email) → UNIQUE (email, id)",
      "- index public.users_team_idx (only in the migrations)",
    ]);
  });
});
