/** The one adoption input: every planner of a database's adoption (MigrationSet, safety, review) gets the owner and the defaults alike. */
import { describe, expect, it } from "vitest";
import { adoptionInput, adoptionOptions } from "../../infra/importers/adoption.js";
import type { Migration } from "../../infra/lifecycle/source.js";

const connection = { host: "h", port: 5432, user: "admin", password: "p", database: "shop" };
const m: Migration = { id: 1, name: "0001_a", file: "migrations/shop/0001_a.sql", checksum: "c", sql: "CREATE TABLE a (id int);", inTransaction: true };

describe("adoptionInput", () => {
  it("carries the owner, the default schema and only the settings given", () => {
    const input = adoptionInput({ connection, role: "shop_owner" }, [m]);
    expect(input).toEqual({ connection, schemas: ["public"], migrations: [m], owner: "shop_owner" });
    // The owner reaches adoption's shadow (migrations run as in production) and the foreign-history reader.
    expect(adoptionOptions(input)).toMatchObject({ owner: "shop_owner", schemas: ["public"] });
  });

  it("passes a stated baseline, the config path and the logger through", () => {
    const logger = { info: () => undefined, warn: () => undefined };
    const input = adoptionInput({ connection, role: "o", schemas: ["public", "billing"], baseline: 3, configPath: "pgstack:databases[1]" }, [], logger);
    expect(input).toEqual({ connection, schemas: ["public", "billing"], baseline: 3, configPath: "pgstack:databases[1]", migrations: [], owner: "o", logger });
    expect(adoptionOptions(input)).toMatchObject({ stated: 3, configPath: "pgstack:databases[1].baseline" });
  });
});
