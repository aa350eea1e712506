/**
 * A credential written in clear in the stack file (the age identity, a password in a source URL,
 * the webhook and healthcheck URLs) is refused, naming the key and the `pulumi config set
 * --secret` command, never printing the value: by `lifeboat plan` (which reads each value's form
 * in the YAML) and by the program under Pulumi (which knows per top-level key whether it is
 * secret: PULUMI_CONFIG_SECRET_KEYS, here set by the mocks' setAllConfig as the language host does).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import * as YAML from "yaml";
import * as pulumi from "@pulumi/pulumi";
import { runPlan } from "../../cli/plan/runPlan";
import { ConfigError, ConfigIssue, loadStackConfig, plaintextSecretIssues, SECRET_PLACEHOLDER, urlHasPassword, validateStackConfig } from "../../components/config";
import { lifeboatProgram } from "../../components/program";
import { parsePgConn } from "../../runner/src/pgconn";
import { cliInProcess, ROOT } from "../cli/planCli";

const AGE = "age1mf2ruu75e952c008nh9m7kaaq09jqawrc6nd2h4kgx8fvg2f9dnse6fxlx";
/** A real identity, made for this run: whatever it is, no output may contain it. */
const IDENTITY = execFileSync("age-keygen", { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1"))!;
const PASSWORD = "pl41nText-pw";

const issuesOf = (fn: () => unknown): ConfigIssue[] => {
  try {
    fn();
  } catch (e) {
    if (ConfigError.is(e)) return e.issues;
    throw e;
  }
  return [];
};

describe("urlHasPassword", () => {
  it.each([
    ["postgres://app:pw@db:5432/app", true],
    ["postgresql://app:p%40ss@db/app", true],
    ["postgres://app:p@ss@db/app", true], // an unencoded @: read up to the last one, as the runner does
    ["postgres://app:pa/ss@db/app", true], // an unencoded /: the runner refuses it later; it is still a password
    ["postgres://app@db/app?password=pw&sslmode=require", true],
    ["redis://:pw@redis:6379/0", true],
    ["rediss://default:pw@redis:6380", true],
    ["postgres://app@db:5432/app", false],
    ["postgres://app:@db/app", false],
    ["postgres://db:5432/app?application_name=a:b@c", false],
    ["postgres://app@db/app?password=", false],
    ["redis://redis:6379/0", false],
  ])("%s: %s", (url, expected) => {
    expect(urlHasPassword(url)).toBe(expected);
  });

  it("property: true whenever the runner would find a password in the URL, false when the URL holds none", () => {
    const part = fc.string({ unit: fc.constantFrom("a", "Z", "0", "-", "_", ".", ":", "@", "/", "?", "#", "%", "&", "=", " ", "é"), maxLength: 8 });
    const url = fc.record({
      scheme: fc.constantFrom("postgres", "postgresql"),
      user: fc.option(part, { nil: undefined }),
      password: fc.option(part, { nil: undefined }),
      host: fc.constantFrom("db", "10.0.0.5", "[::1]", ""),
      port: fc.constantFrom("", ":5432"),
      queryPassword: fc.option(part, { nil: undefined }),
      appName: fc.option(fc.constantFrom("a:b@c", "x@y", "n"), { nil: undefined }),
    }).map((u) => {
      const userinfo = u.user === undefined && u.password === undefined ? "" : `${encodeURIComponent(u.user ?? "")}${u.password === undefined ? "" : ":" + encodeURIComponent(u.password)}@`;
      const query = [u.queryPassword === undefined ? "" : `password=${encodeURIComponent(u.queryPassword)}`, u.appName ? `application_name=${u.appName}` : ""].filter(Boolean).join("&");
      return { url: `${u.scheme}://${userinfo}${u.host}${u.port}/app${query ? "?" + query : ""}`, holdsOne: !!u.password || !!u.queryPassword };
    });
    fc.assert(
      fc.property(url, ({ url: u, holdsOne }) => {
        expect(urlHasPassword(u)).toBe(holdsOne);
        let runnerPassword: string | undefined;
        try {
          runnerPassword = parsePgConn(u).password;
        } catch {
          return; // a URL the runner refuses never reaches a database
        }
        if (runnerPassword !== undefined) expect(urlHasPassword(u)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe("plaintextSecretIssues: which values must be secrets", () => {
  const plan = (raw: Record<string, unknown>) => plaintextSecretIssues(raw, (_path, v) => v === SECRET_PLACEHOLDER);

  it("names each credential in clear with its own set --secret command, and quotes no value", () => {
    const raw = {
      ageIdentity: IDENTITY,
      sources: [
        { name: "db", kind: "postgres", url: SECRET_PLACEHOLDER, drTargetUrl: `postgres://dr:${PASSWORD}@dr/app` },
        { name: "cache", kind: "redis", url: `redis://:${PASSWORD}@redis:6379/0` },
        { name: "crm", kind: "postgres", url: `postgres://crm@db/crm?password=${PASSWORD}` },
        { name: "plain", kind: "redis", url: "redis://redis:6379/0" },
      ],
      alerts: { webhookUrl: `https://hooks.slack.com/services/T0/B0/${PASSWORD}`, healthcheckUrl: `https://hc-ping.com/${PASSWORD}` },
      verification: { scratchUrl: `postgres://drill:${PASSWORD}@scratch/postgres` },
    };
    const found = plan(raw);
    expect(found.map((i) => i.key)).toEqual([
      "lifeboat:ageIdentity",
      "lifeboat:sources[0].drTargetUrl",
      "lifeboat:sources[1].url",
      "lifeboat:sources[2].url",
      "lifeboat:alerts.webhookUrl",
      "lifeboat:alerts.healthcheckUrl",
      "lifeboat:verification.scratchUrl",
    ]);
    expect(found[0]!.message).toMatch(/^holds the age private key in clear text: it must be a Pulumi secret, set with `pulumi config set --secret lifeboat:ageIdentity …`/);
    expect(found[1]!.message).toMatch(/^holds a password in clear text: .*`pulumi config set --path --secret 'lifeboat:sources\[0\]\.drTargetUrl' …`/);
    const text = JSON.stringify(found);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(IDENTITY.slice(16));
  });

  it("accepts every such value held as a secret, and URLs without a password in clear", () => {
    expect(plan({ ageIdentity: SECRET_PLACEHOLDER, alerts: { webhookUrl: SECRET_PLACEHOLDER }, sources: [{ url: "postgres://app@db/app" }, { url: "redis://redis:6379/0" }] })).toEqual([]);
  });
});

describe("validateStackConfig with the secrets Pulumi marks", () => {
  const base = { storage: { provider: "s3", region: "eu-west-1" }, sources: [{ name: "app-db", kind: "postgres", url: "postgres://app@db/app" }], ageRecipients: [AGE] };

  it("reports a credential in clear together with the other problems, before anything else runs", () => {
    const found = issuesOf(() => validateStackConfig({ ...base, ageIdentity: IDENTITY, retention: { daily: -1, weekly: 0, monthly: 0, yearly: 0 } }, "prod", { isSecret: () => false }));
    expect(found.map((i) => i.key)).toEqual(["lifeboat:ageIdentity", "lifeboat:retention.daily"]);
  });

  it("takes the same value when Pulumi holds it as a secret", () => {
    expect(validateStackConfig({ ...base, ageIdentity: IDENTITY, verification: { scratchUrl: "postgres://drill@db/postgres" } }, "prod", { isSecret: (p) => p[0] === "ageIdentity" }).ageIdentity).toBe(IDENTITY);
  });
});

describe("the program under Pulumi (mocks), which knows which top-level keys are secret", () => {
  const config = (identity: string, url: string): Record<string, string> => ({
    "lifeboat:storage": JSON.stringify({ provider: "s3", region: "eu-west-1" }),
    "lifeboat:replicas": JSON.stringify([{ provider: "s3", region: "eu-north-1" }]),
    "lifeboat:sources": JSON.stringify([{ name: "app-db", kind: "postgres", url }]),
    "lifeboat:ageRecipients": JSON.stringify([AGE]),
    "lifeboat:ageIdentity": identity,
    "lifeboat:verification": JSON.stringify({ scratchUrl: "postgres://drill@scratch/postgres" }),
  });
  const CLEAR = config(IDENTITY, `postgres://app:${PASSWORD}@db/app`);

  /**
   * The ConfigError the program's first step (loadStackConfig, before lifeboatProgram declares
   * anything) throws for the config and secret keys the language host hands it (setAllConfig).
   * In-process, not through runPlan: the runtime leaves a thrown program error rejected a second
   * time, which the CLI absorbs (cli/lifeboat.ts) and a jest worker would die of.
   */
  function programError(secretKeys: string[]): ConfigError | undefined {
    pulumi.runtime.setAllConfig(CLEAR, secretKeys);
    try {
      loadStackConfig();
      return undefined;
    } catch (e) {
      if (ConfigError.is(e)) return e;
      throw e;
    }
  }

  beforeAll(() => pulumi.runtime.setMocks({ newResource: (a) => ({ id: a.name, state: a.inputs }), call: (a) => a.inputs }, "lifeboat", "prod", false));

  it("refuses the identity and a source password when their keys are not secret, and never prints them", () => {
    const plain = programError([]);
    expect(plain?.issues.map((i) => i.key)).toEqual(["lifeboat:sources[0].url", "lifeboat:ageIdentity"]);
    expect(plain!.message).toContain("pulumi config set --secret lifeboat:ageIdentity");
    expect(plain!.message).not.toContain(PASSWORD);
    expect(plain!.message).not.toContain(IDENTITY.slice(16));
    expect(programError(["lifeboat:sources"])?.issues.map((i) => i.key)).toEqual(["lifeboat:ageIdentity"]);
  });

  it("declares the environment when both keys are secret (the values Pulumi decrypted)", async () => {
    expect(programError(["lifeboat:ageIdentity", "lifeboat:sources"])).toBeUndefined();
    const run = await runPlan(lifeboatProgram, { stack: "prod", config: CLEAR, secretKeys: ["lifeboat:ageIdentity", "lifeboat:sources"] });
    expect(run.resources.filter((r) => r.type === "lifeboat:index:ScheduledVerification").map((r) => r.name)).toEqual(["lifeboat-prod-app-db-verify"]);
  });
});

describe("lifeboat plan on a stack file", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-clear-"));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Pulumi.staging.yaml (advisory policies: exit 0 when the config is valid) with `edit` applied. */
  function stackFile(edit: (config: Record<string, any>) => void): string {
    const doc = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8"));
    edit(doc.config);
    const file = path.join(dir, "Pulumi.staging.yaml");
    fs.writeFileSync(file, YAML.stringify(doc));
    return file;
  }
  const secure = { secure: "v1:Zm9v:YmFy" };

  it("refuses lifeboat:ageIdentity written in clear (exit 2), telling the user to set it with --secret, without printing it", async () => {
    const r = await cliInProcess("plan", "--config", stackFile((c) => {
      c["lifeboat:ageIdentity"] = IDENTITY;
      c["lifeboat:verification"] = { scratchUrl: secure };
    }));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^lifeboat plan: invalid Lifeboat stack configuration:\n {2}lifeboat:ageIdentity: holds the age private key.*`pulumi config set --secret lifeboat:ageIdentity …`/);
    expect(r.stdout + r.stderr).not.toContain(IDENTITY.slice(16));
  });

  it("refuses a password in clear beside a secure URL in the same key, which only plan can tell apart", async () => {
    const r = await cliInProcess("plan", "--config", stackFile((c) => {
      c["lifeboat:sources"].push({ name: "crm-db", kind: "postgres", url: `postgres://crm:${PASSWORD}@db/crm` });
    }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("  lifeboat:sources[2].url: holds a password in clear text: it must be a Pulumi secret, set with `pulumi config set --path --secret 'lifeboat:sources[2].url' …`");
    expect(r.stdout + r.stderr).not.toContain(PASSWORD);
  });

  it("plans the same stack with those values secure (exit 0)", async () => {
    const r = await cliInProcess("plan", "--config", stackFile((c) => {
      c["lifeboat:ageIdentity"] = secure;
      c["lifeboat:verification"] = { scratchUrl: secure };
      c["lifeboat:sources"].push({ name: "crm-db", kind: "postgres", url: secure });
    }));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });
});
