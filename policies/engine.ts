/**
 * From the policy SDK's arguments to the plain {@link PolicyResourceInput} the policies judge.
 * No PolicyPack here (constructing one starts the analyzer server), so tests can import it.
 *
 * The SDK wraps `props` in a proxy that throws when an unknown (preview) value is read; that
 * would abort a whole stack policy over one unknown ARN. We read the proxy's target instead and
 * replace the SDK's unknown sentinels with {@link UNKNOWN}, which the policies treat as
 * "present, value not known yet".
 */
import { PROD_RETENTION, Retention } from "lifeboat-core";
import { DEFAULT_SETTINGS, PolicyResourceInput, PolicySettings, UNKNOWN } from "./model";

/*
 * Two @pulumi/policy internals, neither exported from the package root: the proxy's target key
 * and its unknown sentinels (module `@pulumi/policy/proxy`). Checked with @pulumi/policy 1.21.0,
 * which package.json pins exactly; test/cli/sdkInternals.test.ts fails naming either if a new
 * version drops or changes it.
 */

/** The property an SDK `unknownCheckingProxy` answers with its target (`getSpecialProxyTarget`). */
export const PROXY_TARGET_KEY = "__getSpecialProxyTarget";

/** The SDK's sentinels for unknown values (`unknownStringValue` etc.), by value. */
export const SDK_UNKNOWNS: ReadonlySet<string> = new Set([
  "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
  "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
  "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
  "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
  "030794c1-ac77-496b-92df-f27374a8bd58",
  "e48ece36-62e2-4504-bad9-02848725956a",
  "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);

/** Proxy-safe deep copy: unknown sentinels become {@link UNKNOWN}. */
export function plain(value: unknown): unknown {
  const target = value && typeof value === "object" ? ((value as Record<string, unknown>)[PROXY_TARGET_KEY] ?? value) : value;
  if (typeof target === "string") return SDK_UNKNOWNS.has(target) ? UNKNOWN : target;
  if (Array.isArray(target)) return target.map(plain);
  if (target && typeof target === "object") {
    return Object.fromEntries(Object.keys(target).map((k) => [k, plain((target as Record<string, unknown>)[k])]));
  }
  return target;
}

/** The parts of the SDK's PolicyResource / ResourceValidationArgs that the adapter reads. */
export interface SdkResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  parent?: { type: string; name: string };
  provider?: { type: string; name: string; props: Record<string, unknown> };
  propertyDependencies?: Record<string, { name: string }[]>;
  opts?: { parent?: string };
}

/** Type and name of a resource from its URN (`urn:pulumi:stack::project::parent$type::name`). */
function fromUrn(urn: string): { type: string; name: string } | undefined {
  const parts = urn.split("::");
  if (parts.length < 4) return undefined;
  const types = parts[2]!.split("$");
  return { type: types[types.length - 1]!, name: parts.slice(3).join("::") };
}

export function toPolicyResource(r: SdkResource): PolicyResourceInput {
  const parent = r.parent ?? (r.opts?.parent ? fromUrn(r.opts.parent) : undefined);
  const deps = r.propertyDependencies
    ? Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, v]) => [k, v.map((d) => d.name)]))
    : undefined;
  return {
    type: r.type,
    name: r.name,
    inputs: plain(r.props) as Record<string, unknown>,
    ...(parent ? { parent: parent.name, parentType: parent.type } : {}),
    ...(r.provider ? { provider: { type: r.provider.type, name: r.provider.name, inputs: plain(r.provider.props) as Record<string, unknown> } } : {}),
    ...(deps ? { propertyDependencies: deps } : {}),
  };
}

/** Policy config keys (`--policy-pack-config`): each policy accepts the keys it reads. */
export interface PackConfig {
  backupBucketPattern?: string;
  writerPattern?: string;
  defaultAwsRegion?: string;
  rpo?: string;
  minimums?: Partial<Retention>;
}

export function settingsFromConfig(c: PackConfig): PolicySettings {
  return {
    ...DEFAULT_SETTINGS,
    ...(c.backupBucketPattern ? { backupBucketPattern: c.backupBucketPattern } : {}),
    ...(c.writerPattern ? { writerPattern: c.writerPattern } : {}),
    ...(c.defaultAwsRegion ? { defaultAwsRegion: c.defaultAwsRegion } : {}),
    ...(c.rpo ? { rpo: c.rpo } : {}),
    minimums: { ...PROD_RETENTION, ...(c.minimums ?? {}) },
  };
}
