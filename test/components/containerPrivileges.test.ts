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
      const p = jobPrivileges({ mounts: mount ? [{}] : [], ...(target ? { targetMount: {} } : {}) });
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
    expect(c.mounts).toContainEqual({ type: "volume", source: "whatsapp_sessions", target: "/source/wa-sessions", readOnly: true });
  });

  it("a database backup runs as the image's user with no capability", async () => {
    const resources = await declare(() => new ScheduledBackup("db", { sourceName: "app-db", sourceKind: "postgres", sourceUrl: pulumi.secret("postgres://u:p@db/app"), ...common }));
    const c = one(resources, "docker:index/container:Container").inputs;
    expect(c.user).toBeUndefined();
    expect(c.capabilities).toEqual({ drops: ["ALL"], adds: [] });
    expect(c.securityOpts).toEqual(["no-new-privileges"]);
  });
});

describe("a host's two schedulers' privileges", () => {
  it("the backup side of a host with a volume source reads as root with DAC_READ_SEARCH only; the verify side has no capability", async () => {
    const { DisasterRecovery, validateStackConfig } = await import("../../components");
    const config = validateStackConfig({
      storage: { provider: "r2", accountId: "0123456789abcdef0123456789abcdef" },
      sources: [{ name: "app-db", kind: "postgres", url: "postgres://u:p@db/app" }, { name: "wa-sessions", kind: "volume", volume: "whatsapp_sessions" }],
      ageRecipients: common.ageRecipients,
      ageIdentity: "AGE-SECRET-KEY-13VYCYC4XLQGG5RUHX28Y983GDV5KNEXUXHVUUV2EVPL6SAU6DVRSTNEHK7",
      verification: { scratchUrl: "postgres://drill:pw@scratch/postgres" },
    }, "prod");
    const containers = (await declare(() => new DisasterRecovery("lifeboat-prod", { config }))).filter((r) => r.type === "docker:index/container:Container");
    const side = (n: string) => containers.find((c) => c.name === `lifeboat-prod-${n}`)!.inputs;
    expect([side("backup").user, side("backup").capabilities]).toEqual(["0:0", { drops: ["ALL"], adds: ["DAC_READ_SEARCH"] }]);
    expect([side("verify").user, side("verify").capabilities]).toEqual([undefined, { drops: ["ALL"], adds: [] }]);
    for (const n of ["backup", "verify"]) expect(side(n).securityOpts).toEqual(["no-new-privileges"]);
  });
});
