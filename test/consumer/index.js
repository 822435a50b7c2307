// @ts-check
/**
 * A team's own Pulumi program: it creates a PostgreSQL server and, through the pgstack package,
 * two databases with their roles, grants and migrations, in one plan. The server's port is an
 * output of the server resource, unknown until it runs.
 */
const fs = require("node:fs");
const path = require("node:path");
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");
const { declareDatabases, parseStackConfig } = require("pgstack");

const cfg = new pulumi.Config("shop");
const dataRoot = cfg.require("dataRoot");
const adminPassword = cfg.requireSecret("adminPassword");

const server = new command.local.Command("postgres", {
  create: fs.readFileSync(path.join(__dirname, "server.sh"), "utf8"),
  delete: 'AS=""; [ "$(id -u)" = 0 ] && AS="runuser -u postgres --"; $AS /usr/lib/postgresql/15/bin/pg_ctl -D "$DATA_ROOT/data" -m fast -w stop >/dev/null || true; rm -rf "$DATA_ROOT"',
  environment: { DATA_ROOT: dataRoot, PORT: String(cfg.requireNumber("port")), ADMIN_PASSWORD: adminPassword },
});
const port = pulumi.unsecret(server.stdout).apply(Number);

module.exports = async () => {
  const config = parseStackConfig(
    {
      databases: [
        {
          name: "shop",
          owner: "shop_owner",
          roles: [{ name: "shop_owner" }, { name: "shop_app", login: true }, { name: "shop_reader", login: true }],
          grants: [
            { role: "shop_app", schema: "public", schemaPrivileges: ["USAGE"], tablePrivileges: ["SELECT", "INSERT", "UPDATE", "DELETE"], sequencePrivileges: ["USAGE", "SELECT"] },
            { role: "shop_reader", schema: "public", schemaPrivileges: ["USAGE"], tablePrivileges: ["SELECT"] },
          ],
          reset: { allowed: true },
          expect: { tables: ["customers", "orders"], foreignKeys: ["orders.customer_id -> customers.id"] },
        },
        {
          name: "billing",
          owner: "billing_owner",
          roles: [{ name: "billing_owner" }, { name: "billing_app", login: true }],
          grants: [{ role: "billing_app", schema: "public", schemaPrivileges: ["USAGE"], tablePrivileges: ["SELECT", "INSERT"] }],
          reset: { allowed: true },
        },
      ],
      safety: { rehearsal: false },
    },
    pulumi.getStack(),
  );
  const databases = await declareDatabases({
    config,
    server: { host: "127.0.0.1", port, adminUser: "pgstack_admin", adminPassword },
    rolePasswords: { shop_app: cfg.requireSecret("shopAppPassword") },
  });
  return {
    port,
    shopHead: databases["shop"]?.outputs.migrationHead,
    shopTables: databases["shop"]?.outputs.tables,
    billingHead: databases["billing"]?.outputs.migrationHead,
  };
};
