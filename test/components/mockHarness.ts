import * as pulumi from "@pulumi/pulumi";
import { JobTable, ScheduledJob, parseJobTable } from "lifeboat-core";
import { awsRegions, mockCall, mockOutputs } from "../../cli/plan/mocks";
import { CONTAINER_PATHS } from "../../components/schedule/commands";
import { childEnv } from "../../runner/src/jobTable";

/** A resource the component declared, with its inputs as the engine received them. */
export interface Declared {
  type: string;
  name: string;
  inputs: Record<string, any>;
  /** The provider reference (URN::id) the resource was given, if any. */
  provider?: string;
}

const declared: Declared[] = [];

/**
 * Installs Pulumi mocks for this test file (as an update, so every output is known) using
 * the same realistic outputs as `lifeboat plan`. Call once at the top of a test file.
 */
export function installMocks(stack = "test"): void {
  const regions = awsRegions("us-east-1");
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        declared.push({ type: args.type, name: args.name, inputs: args.inputs, ...(args.provider ? { provider: args.provider } : {}) });
        regions.observe(args);
        return mockOutputs(args, regions.regionOf);
      },
      call: mockCall,
    },
    "lifeboat",
    stack,
    false,
  );
}

/** Runs `declare`, waits until every registration reached the mocks, returns what was declared. */
export async function declare(fn: () => unknown): Promise<Declared[]> {
  declared.length = 0;
  fn();
  // waitForRPCs is what `disconnect` awaits; it is not in the typings, but it is the one way to
  // know every registration reached the monitor without closing it for the next test.
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
  return [...declared];
}

/** The value of an Output, for assertions. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

/** True when the engine received `value` marked as a secret. */
export function isSecretValue(value: unknown): boolean {
  return !!value && typeof value === "object" && (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

export function ofType(resources: Declared[], type: string): Declared[] {
  return resources.filter((r) => r.type === type);
}

export function one(resources: Declared[], type: string): Declared {
  const found = ofType(resources, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}: ${found.map((r) => r.name).join(", ")}`);
  return found[0]!;
}

/** Inputs with every secret-wrapped value replaced by `"[secret]"`, as `lifeboat plan --json` prints them. */
export function redacted(v: unknown): unknown {
  if (isSecretValue(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(redacted);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redacted(x)]));
  return v;
}

/** The plain value inside a secret-wrapped input; fails the test when the input is not secret. */
export function unwrap(v: unknown): any {
  expect(isSecretValue(v)).toBe(true);
  return (v as { value: unknown }).value;
}

/** No value of `secrets` appears anywhere in what the engine received outside secret wrappers. */
export function expectNoPlainSecrets(resources: Declared[], secrets: Record<string, string>): void {
  const text = JSON.stringify(resources.map((r) => ({ type: r.type, name: r.name, inputs: redacted(r.inputs) })));
  for (const s of Object.values(secrets)) expect(text).not.toContain(s);
}

/** Docker `envs` (`KEY=value` lines) as a map. */
export function envMap(envs: string[]): Record<string, string> {
  return Object.fromEntries(envs.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

/** The uploads of a container (the list is secret as a whole when it holds the age identity). */
export function uploadsOf(container: Declared): { file: string; content: unknown; permissions?: string; owner?: string; group?: string }[] {
  const u = container.inputs.uploads;
  return (isSecretValue(u) ? (u as { value: unknown }).value : u ?? []) as ReturnType<typeof uploadsOf>;
}

/** A scheduler container's job table (the upload at CONTAINER_PATHS.jobs), validated by the runner's own parser. */
export function jobTableOf(container: Declared): JobTable {
  const upload = uploadsOf(container).find((u) => u.file === CONTAINER_PATHS.jobs);
  if (!upload) throw new Error(`${container.name} has no job table upload`);
  return parseJobTable(JSON.parse(upload.content as string), container.name);
}

/** One job of a scheduler container, and the environment its run gets (the runner's childEnv over the container's secret env). */
export function scheduledJob(container: Declared, name: string): { job: ScheduledJob; env: Record<string, string> } {
  const job = jobTableOf(container).jobs.find((j) => j.name === name);
  if (!job) throw new Error(`${container.name} has no job ${name}: ${jobTableOf(container).jobs.map((j) => j.name).join(", ")}`);
  return { job, env: childEnv(job, envMap(unwrap(container.inputs.envs))) as Record<string, string> };
}

/** The value after `flag` in a runner argv, or undefined when the flag is absent. */
export function flagValue(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}
