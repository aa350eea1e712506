import * as fc from "fast-check";
import * as pulumi from "@pulumi/pulumi";
import { jobPrivileges } from "../../components/schedule/privileges";
import { ScheduledBackup } from "../../components";
import { declare, installMocks, one } from "./mockHarness";

installMocks();

const common = {
  bucketName: "prod-backups", prefix: "backups", endpoint: "https://acct.r2.cloudflarestorage.com", region: "auto",
  ageRecipients: ["age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx"],
  accessKeyId: pulumi.secret("AKIDEXAMPLE"), secretAccessKey: pulumi.secret("secret-example"),
};

describe("jobPrivileges", () => {
  it("never keeps a capability beyond the role's few, and always forbids gaining privileges", () => {
    fc.assert(fc.property(fc.boolean(), fc.boolean(), (mount, target) => {
      const p = jobPrivileges({ ...(mount ? { mount: {} } : {}), ...(target ? { targetMount: {} } : {}) });
      expect(p.capabilities.drops).toEqual(["ALL"]);
      expect(p.securityOpts).toEqual(["no-new-privileges"]);
      const allowed = target ? ["CHOWN", "DAC_OVERRIDE", "FOWNER"] : mount ? ["DAC_READ_SEARCH"] : [];
      expect(p.capabilities.adds).toEqual(allowed);
      // Root only where a capability is granted; everyone else keeps the image's unprivileged user.
      expect(p.user).toBe(allowed.length ? "0:0" : undefined);
    }));
  });
});

describe("backup containers' privileges", () => {
  it("a volume backup reads as root with DAC_READ_SEARCH only, from a read-only mount", async () => {
    const resources = await declare(() => new ScheduledBackup("wa", { sourceName: "wa-sessions", sourceKind: "volume", volume: "whatsapp_sessions", ...common }));
    const c = one(resources, "docker:index/container:Container").inputs;
    expect(c.user).toBe("0:0");
    expect(c.capabilities).toEqual({ drops: ["ALL"], adds: ["DAC_READ_SEARCH"] });
    expect(c.securityOpts).toEqual(["no-new-privileges"]);
    expect(c.mounts).toContainEqual({ type: "volume", source: "whatsapp_sessions", target: "/source", readOnly: true });
  });

  it("a database backup runs as the image's user with no capability", async () => {
    const resources = await declare(() => new ScheduledBackup("db", { sourceName: "app-db", sourceKind: "postgres", sourceUrl: pulumi.secret("postgres://u:p@db/app"), ...common }));
    const c = one(resources, "docker:index/container:Container").inputs;
    expect(c.user).toBeUndefined();
    expect(c.capabilities).toEqual({ drops: ["ALL"], adds: [] });
    expect(c.securityOpts).toEqual(["no-new-privileges"]);
  });
});
