import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { SECRET_PLACEHOLDER } from "../../components/config/fields";

/** A stack's config as the Pulumi engine would hand it to the program, but offline. */
export interface StackFile {
  stack: string;
  /** Full keys (`lifeboat:storage`) to the string form Pulumi uses (objects as JSON). */
  config: Record<string, string>;
  /** Keys holding a `secure:` value; those values are {@link SECRET_PLACEHOLDER}. */
  secretKeys: string[];
}

export class StackFileError extends Error {}

/** Finds the directory holding Pulumi.yaml, from `start` upwards. */
export function findProjectDir(start: string): string {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, "Pulumi.yaml"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new StackFileError(`no Pulumi.yaml in ${start} or any directory above it`);
    dir = up;
  }
}

/**
 * Reads `Pulumi.<stack>.yaml` (or `file`) plus the project's config defaults from Pulumi.yaml.
 * `secure:` values cannot be decrypted without the stack's secrets provider: they become the
 * placeholder and their key is marked secret, so plan treats them as present-but-secret.
 */
export function readStackFile(opts: { projectDir: string; stack?: string; file?: string }): StackFile {
  const file = opts.file ?? path.join(opts.projectDir, `Pulumi.${opts.stack}.yaml`);
  const stack = opts.stack ?? /Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1];
  if (!stack) throw new StackFileError(`cannot tell the stack name from ${file}: pass --stack`);
  if (!fs.existsSync(file)) throw new StackFileError(`stack file not found: ${file}`);
  const doc = parseYaml(file) as { config?: Record<string, unknown> } | null;
  const project = parseYaml(path.join(opts.projectDir, "Pulumi.yaml")) as { name?: string; config?: Record<string, unknown> };

  const values: Record<string, unknown> = {};
  for (const [key, decl] of Object.entries(project?.config ?? {})) {
    if (decl && typeof decl === "object" && "default" in decl) values[fullKey(key, project.name)] = (decl as { default: unknown }).default;
  }
  const secretKeys = new Set<string>();
  for (const [key, value] of Object.entries(doc?.config ?? {})) {
    const k = fullKey(key, project.name);
    const { value: v, secret } = hideSecrets(value);
    values[k] = v;
    if (secret) secretKeys.add(k);
  }
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) config[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { stack, config, secretKeys: [...secretKeys] };
}

function parseYaml(file: string): unknown {
  try {
    return YAML.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new StackFileError(`${file} is not valid YAML: ${(e as Error).message}`);
  }
}

/** Keys without a namespace belong to the project, as Pulumi reads them. */
function fullKey(key: string, project = "lifeboat"): string {
  return key.includes(":") ? key : `${project}:${key}`;
}

function hideSecrets(value: unknown): { value: unknown; secret: boolean } {
  if (Array.isArray(value)) {
    const parts = value.map(hideSecrets);
    return { value: parts.map((p) => p.value), secret: parts.some((p) => p.secret) };
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0]![0] === "secure") return { value: SECRET_PLACEHOLDER, secret: true };
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries) {
      const p = hideSecrets(v);
      out[k] = p.value;
      secret ||= p.secret;
    }
    return { value: out, secret };
  }
  return { value, secret: false };
}
