import * as pulumi from "@pulumi/pulumi";
import { GENERATED_SUFFIX_MOCK, awsRegions, mockCall, mockOutputs } from "./mocks";
import { StackFile } from "./stackFile";

/** One declared resource as plan reports it; secret values are `"[secret]"`. */
export interface PlannedResource {
  type: string;
  name: string;
  /** The parent's name, or undefined for children of the stack itself. */
  parent?: string;
  parentType?: string;
  custom: boolean;
  inputs: Record<string, unknown>;
}

export interface PlanRun {
  stack: string;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
  /** Names the mocks made up where the provider generates one at `pulumi up` (S3 buckets from a prefix). */
  invented: InventedName[];
}

/** A physical name only `pulumi up` can know, and the part of it that is known (the prefix). */
export interface InventedName {
  name: string;
  known: string;
}

const SECRET_TEXT = "[secret]";
const STACK_TYPE = "pulumi:pulumi:Stack";

/**
 * Runs a Pulumi program (a function that declares resources and returns the stack outputs) for
 * one stack under Pulumi mocks: offline, no credentials, as an update (not a preview) so that
 * every computed value is known. Each run sets the whole config and a fresh mock monitor and
 * stack, so one process can plan several stacks one after another (not concurrently).
 */
export async function runPlan(program: () => unknown, stackFile: StackFile, project = "lifeboat", opts: PlanOptions = {}): Promise<PlanRun> {
  // The SDK captures `new Error().stack` for every promise it creates (leak diagnostics for the
  // real engine); formatting those stacks is about a third of a plan's time. Messages are kept;
  // LIFEBOAT_DEBUG=1 keeps full stack traces for diagnosing a crash.
  const stackTraceLimit = Error.stackTraceLimit;
  if (!process.env.LIFEBOAT_DEBUG) Error.stackTraceLimit = 0;
  try {
    return await runProgram(program, stackFile, project, opts);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** `revealSecrets` is for the container e2e suite only, which runs the planned containers with the test stack's loopback secrets; the CLI never sets it. */
export interface PlanOptions {
  revealSecrets?: boolean;
}

/*
 * `lifeboat plan` drives the SDK the way its language host does, which no public API covers. The
 * internals it relies on, each marked "SDK internal" below, were checked with @pulumi/pulumi
 * 3.248.0, which package.json pins exactly; test/cli/sdkInternals.test.ts fails naming the one
 * that a new version drops or changes.
 */
async function runProgram(program: () => unknown, stackFile: StackFile, project: string, opts: PlanOptions): Promise<PlanRun> {
  // SDK internal: runtime.setAllConfig (the language host's way to load config, secret keys marked).
  pulumi.runtime.setAllConfig(stackFile.config, stackFile.secretKeys);
  const resources: PlannedResource[] = [];
  const invented: InventedName[] = [];
  const regions = awsRegions(stackFile.config["aws:region"] ?? "us-east-1");

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        regions.observe(args);
        resources.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs: redact(args.inputs, opts.revealSecrets) as Record<string, unknown> });
        const out = mockOutputs(args, regions.regionOf);
        if (args.type === "aws:s3/bucket:Bucket" && !args.inputs.bucket) {
          invented.push({ name: out.id, known: String(args.inputs.bucketPrefix ?? out.id.slice(0, -GENERATED_SUFFIX_MOCK)) });
        }
        return out;
      },
      call: mockCall,
    },
    project,
    stackFile.stack,
    false,
  );

  // The mock monitor is not told who a resource's parent is; a stack transformation sees it.
  // SDK internal: getMonitor() is the MockMonitor after setMocks, with getRegisteredResources().
  const parents = new Map<string, { name: string; type: string }>();
  const monitor = pulumi.runtime.getMonitor() as unknown as { getRegisteredResources(): Map<string, { state: unknown }> };
  // SDK internal: runInPulumiStack registers the root stack resource and its outputs, as the language host does.
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((t) => {
      // SDK internal: a Resource's name and type are its private fields __name and __pulumiType.
      const p = t.opts.parent as unknown as { __name?: string; __pulumiType?: string } | undefined;
      if (p?.__name && p.__pulumiType !== STACK_TYPE) parents.set(`${t.type}::${t.name}`, { name: p.__name, type: p.__pulumiType ?? "" });
      return undefined;
    });
    return program();
  });
  await pulumi.runtime.disconnect();

  let outputs: Record<string, unknown> = {};
  for (const [urn, r] of monitor.getRegisteredResources()) {
    if (urn.includes(`::${STACK_TYPE}::`) && r.state) outputs = redact(structToJs(r.state)) as Record<string, unknown>;
  }
  for (const r of resources) {
    const p = parents.get(`${r.type}::${r.name}`);
    if (p) {
      r.parent = p.name;
      r.parentType = p.type;
    }
  }
  return { stack: stackFile.stack, resources: resources.filter((r) => r.type !== STACK_TYPE), outputs, invented };
}

/** The stack's registered outputs arrive as a protobuf Struct with secrets still marked (SDK internal: the MockMonitor's `state`). */
function structToJs(state: unknown): Record<string, unknown> {
  const s = state as { toJavaScript?: () => Record<string, unknown> };
  return s.toJavaScript ? s.toJavaScript() : (state as Record<string, unknown>);
}


/**
 * Replaces every engine-marked secret with `"[secret]"` (with `reveal`: with its value). SDK
 * internal: secrets reach the mocks marked `{[runtime.specialSigKey]: runtime.specialSecretSig, value}`.
 */
export function redact(value: unknown, reveal = false): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, reveal));
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    if (o[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return reveal ? redact(o.value, true) : SECRET_TEXT;
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, redact(v, reveal)]));
  }
  return value;
}
