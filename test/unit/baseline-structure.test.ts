/** The structural comparison behind adoption: by name, ignoring column order, owners, grants and rows. */
import { describe, expect, it } from "vitest";
import { compareStructures } from "../../infra/lifecycle/baseline-structure.js";
import type { TableInfo } from "../../infra/lifecycle/introspect.js";

const users = (over: Partial<TableInfo> = {}): TableInfo => ({
  schema: "public",
  name: "users",
  owner: "app_owner",
  estimatedRows: 0,
  columns: [
    { name: "id", type: "bigint", nullable: false, default: "identity" },
    { name: "email", type: "text", nullable: false, default: null },
  ],
  primaryKey: ["id"],
  foreignKeys: [],
  constraints: ["users_email_key: UNIQUE (email)"],
  grants: [],
  indexes: [{ name: "users_pkey", unique: true, primary: true, definition: "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)" }],
  ...over,
});

describe("compareStructures", () => {
  it("equal structures differ in nothing, whatever the column order, owner, grants and row count", () => {
    const live = users({ owner: "postgres", grants: ["PUBLIC: SELECT"], estimatedRows: 621, columns: [...users().columns].reverse() });
    expect(compareStructures([live], [users()], "0001_x")).toEqual([]);
  });

  it("names each difference by object: tables, columns (type, nullability, default), keys, constraints, indexes", () => {
    const live = users({
      columns: [
        { name: "id", type: "integer", nullable: false, default: "nextval('users_id_seq'::regclass)" },
        { name: "email", type: "text", nullable: true, default: null },
        { name: "nickname", type: "text", nullable: true, default: "''::text" },
      ],
      primaryKey: ["id", "email"],
      constraints: ["users_email_key: UNIQUE (email, id)"],
      indexes: [],
    });
    const extra: TableInfo = { ...users(), name: "legacy", columns: [], constraints: [], indexes: [] };
    expect(compareStructures([live, extra], [users(), { ...users(), name: "teams", columns: [], constraints: [], indexes: [] }], "0002_y")).toEqual([
      "+ table public.legacy (in the database; no migration up to 0002_y creates it)",
      "- table public.teams (created by the migrations up to 0002_y; the database lacks it)",
      "~ public.users: column email: nullable in the database, NOT NULL in the migrations",
      "~ public.users: column id: type integer in the database, bigint in the migrations",
      "~ public.users: column id: default nextval('users_id_seq'::regclass) in the database, identity in the migrations",
      "~ public.users: + column nickname text DEFAULT ''::text (not in the migrations up to 0002_y)",
      "~ public.users: primary key (id, email) in the database, (id) in the migrations",
      "~ public.users: constraint users_email_key: UNIQUE (email, id) in the database, UNIQUE (email) in the migrations",
      "~ public.users: - index users_pkey: CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id) (missing in the database)",
    ]);
  });
});
