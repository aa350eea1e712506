/**
 * Canary for the Pulumi SDK internals that `lifeboat plan` (cli/plan/runPlan.ts, mocks.ts) and
 * the policy adapter (policies/engine.ts) rely on. package.json pins @pulumi/pulumi and
 * @pulumi/policy to the versions they were checked with; after a bump, each test here names the
 * internal that went away or changed shape, and where it is used.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { unknownCheckingProxy } from "@pulumi/policy";
import { PROXY_TARGET_KEY, SDK_UNKNOWNS } from "../../policies/engine";

/** The versions whose internals were read and checked. */
const CHECKED = { "@pulumi/pulumi": "3.248.0", "@pulumi/policy": "1.21.0" } as const;
type Pkg = keyof typeof CHECKED;

function installed(pkg: Pkg): string {
  return (JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as { version: string }).version.replace(/^v/, "");
}

/** Runs `check`; on any failure, an error naming the internal, its user and the versions. */
async function internal(pkg: Pkg, name: string, usedBy: string, check: () => void | Promise<void>): Promise<void> {
  try {
    await check();
  } catch (e) {
    throw new Error(
      `Pulumi SDK internal ${name} (${pkg}; used by ${usedBy}) is gone or changed shape in ${pkg} ${installed(pkg)}, ` +
        `checked with ${CHECKED[pkg]}: ${(e as Error).message}`,
    );
  }
}

function must(ok: unknown, what: string): asserts ok {
  if (!ok) throw new Error(what);
}

test("package.json pins both SDKs to exactly the checked versions, and those are installed", () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")) as { dependencies: Record<string, string> };
  for (const name of Object.keys(CHECKED) as Pkg[]) {
    // A new version: re-check every internal below against its source, then move the pin and CHECKED together.
    expect({ name, pinned: pkg.dependencies[name], installed: installed(name) }).toEqual({ name, pinned: CHECKED[name], installed: CHECKED[name] });
  }
});

describe("@pulumi/policy internals (policies/engine.ts)", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const proxyModule = () => require("@pulumi/policy/proxy") as Record<string, unknown>;

  test("proxy target key: an unknownCheckingProxy hands out its target under PROXY_TARGET_KEY", async () => {
    await internal("@pulumi/policy", "proxy/getSpecialProxyTarget", "policies/engine.ts plain()", () => {
      must(proxyModule().getSpecialProxyTarget === PROXY_TARGET_KEY, `getSpecialProxyTarget is ${JSON.stringify(proxyModule().getSpecialProxyTarget)}, not ${PROXY_TARGET_KEY}`);
      const target = { bucket: proxyModule().unknownStringValue, tags: { a: "b" } };
      must((unknownCheckingProxy(target) as Record<string, unknown>)[PROXY_TARGET_KEY] === target, "the proxy does not return its target under that key");
    });
  });

  test("unknown sentinels: the proxy module's unknown*Value constants are exactly SDK_UNKNOWNS", async () => {
    await internal("@pulumi/policy", "proxy/unknown*Value", "policies/engine.ts SDK_UNKNOWNS", () => {
      const found = Object.entries(proxyModule()).filter(([k]) => /^unknown[A-Z]\w*Value$/.test(k)).map(([, v]) => v);
      must(found.length === SDK_UNKNOWNS.size && found.every((v) => SDK_UNKNOWNS.has(v as string)), `the module has ${JSON.stringify(found)}`);
    });
  });
});

class Child extends pulumi.CustomResource {
  constructor(name: string, props: pulumi.Inputs, opts: pulumi.CustomResourceOptions) {
    super("canary:index:Child", name, props, opts);
  }
}

describe("@pulumi/pulumi internals (cli/plan/runPlan.ts)", () => {
  const RUNTIME = ["setAllConfig", "setMocks", "getMonitor", "runInPulumiStack", "registerStackTransformation", "disconnect"] as const;
  const seen: { inputs: Record<string, unknown>[]; parents: unknown[]; monitor?: unknown; config?: string; secretKeys?: unknown[] } = { inputs: [], parents: [] };

  // One program under mocks, driven as runPlan drives it; each test below checks one internal it used.
  beforeAll(async () => {
    const rt = pulumi.runtime as unknown as Record<string, unknown>;
    const missing = RUNTIME.filter((f) => typeof rt[f] !== "function");
    if (missing.length > 0) return; // the runtime-functions test names them
    pulumi.runtime.setAllConfig({ "canary:region": "eu-central-1", "canary:token": "t0ken" }, ["canary:token"]);
    await pulumi.runtime.setMocks({
      newResource: (a) => {
        seen.inputs.push(a.inputs);
        return { id: `${a.name}-id`, state: a.inputs };
      },
      call: (a) => a.inputs,
    }, "canary", "dev", false);
    seen.monitor = pulumi.runtime.getMonitor();
    await pulumi.runtime.runInPulumiStack(async () => {
      pulumi.runtime.registerStackTransformation((t) => {
        if (t.type === "canary:index:Child") seen.parents.push(t.opts.parent);
        return undefined;
      });
      seen.config = new pulumi.Config("canary").require("region");
      const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => unknown }).isConfigSecret;
      if (typeof isConfigSecret === "function") seen.secretKeys = [isConfigSecret("canary:token"), isConfigSecret("canary:region")];
      const parent = new pulumi.ComponentResource("canary:index:Parent", "parent");
      new Child("child", { password: pulumi.secret("hunter2") }, { parent });
      return { plain: "visible", hidden: pulumi.secret("hidden") };
    });
    await pulumi.runtime.disconnect();
  });

  test("runtime functions: setAllConfig, setMocks, getMonitor, runInPulumiStack, registerStackTransformation, disconnect", async () => {
    await internal("@pulumi/pulumi", "runtime.{setAllConfig,runInPulumiStack,getMonitor,disconnect}", "cli/plan/runPlan.ts runProgram", () => {
      const rt = pulumi.runtime as unknown as Record<string, unknown>;
      const missing = RUNTIME.filter((f) => typeof rt[f] !== "function");
      must(missing.length === 0, `not functions: ${missing.join(", ")}`);
      must(seen.config === "eu-central-1", `setAllConfig did not reach pulumi.Config (got ${JSON.stringify(seen.config)})`);
    });
  });

  test("runtime.isConfigSecret: true for a key setAllConfig (the language host) marked secret, false for another", async () => {
    await internal("@pulumi/pulumi", "runtime.isConfigSecret", "components/config/stackConfig.ts isSecretKey (a credential in clear)", () => {
      must(seen.secretKeys !== undefined, "runtime.isConfigSecret is not a function");
      must(seen.secretKeys[0] === true && seen.secretKeys[1] === false, `it answered ${JSON.stringify(seen.secretKeys)} for a secret and a plain key`);
    });
  });

  test("MockMonitor.getRegisteredResources(): the stack's outputs as a Struct with toJavaScript()", async () => {
    await internal("@pulumi/pulumi", "MockMonitor.getRegisteredResources / state.toJavaScript", "cli/plan/runPlan.ts (stack outputs)", () => {
      const m = seen.monitor as { getRegisteredResources?: () => unknown };
      must(typeof m?.getRegisteredResources === "function", "getMonitor() has no getRegisteredResources()");
      const registered = m.getRegisteredResources!();
      must(registered instanceof Map, "getRegisteredResources() is not a Map");
      const stack = [...(registered as Map<string, { state?: { toJavaScript?: () => Record<string, unknown> } }>)].find(([urn]) => urn.includes("::pulumi:pulumi:Stack::"));
      must(stack, `no pulumi:pulumi:Stack among ${[...(registered as Map<string, unknown>).keys()].join(", ")}`);
      must(typeof stack[1].state?.toJavaScript === "function", "the stack's state has no toJavaScript()");
      must(stack[1].state.toJavaScript!().plain === "visible", `outputs are ${JSON.stringify(stack[1].state.toJavaScript!())}`);
    });
  });

  test("Resource.__name / __pulumiType: a stack transformation sees the parent's name and type", async () => {
    await internal("@pulumi/pulumi", "Resource.__name / Resource.__pulumiType", "cli/plan/runPlan.ts (parents)", () => {
      const p = seen.parents[0] as { __name?: unknown; __pulumiType?: unknown } | undefined;
      must(p, "the transformation saw no parent");
      must(p.__name === "parent" && p.__pulumiType === "canary:index:Parent", `the parent has __name ${String(p.__name)}, __pulumiType ${String(p.__pulumiType)}`);
    });
  });

  test("runtime.specialSigKey / specialSecretSig: secrets reach the mocks marked with them", async () => {
    await internal("@pulumi/pulumi", "runtime.specialSigKey / runtime.specialSecretSig", "cli/plan/runPlan.ts redact, cli/plan/mocks.ts", () => {
      const child = seen.inputs.find((i) => "password" in i);
      must(child, "the child's inputs never reached newResource");
      const v = child.password as Record<string, unknown>;
      must(v?.[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig && v.value === "hunter2", `the secret arrived as ${JSON.stringify(v)}`);
    });
  });
});
