import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, ConfigIssue } from "../../components/config/errors";
import { isPlaceholder, SECRET_PLACEHOLDER } from "../../components/config/fields";
import { rawStackConfig } from "../../components/config/stackConfig";
import { LifeboatConfig, validateStackConfig } from "../../components/config/validate";
import { applyProjectConfig, parseProject, stackNameProblem, StackValue } from "./projectConfig";

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
 * Reads `Pulumi.<stack>.yaml` (or `file`) and applies Pulumi.yaml's `config:` the way Pulumi
 * does before the program runs (see ./projectConfig): required keys, declared types, secrets,
 * defaults. Throws a {@link ConfigError} naming each key Pulumi would refuse.
 * `secure:` values cannot be decrypted without the stack's secrets provider: they become the
 * placeholder and their key is marked secret, so plan treats them as present-but-secret.
 */
export function readStackFile(opts: { projectDir: string; stack?: string; file?: string }): StackFile {
  const file = opts.file ?? path.join(opts.projectDir, `Pulumi.${opts.stack}.yaml`);
  const stack = opts.stack ?? /Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1];
  if (!stack) throw new StackFileError(`cannot tell the stack name from ${file}: pass --stack`);
  const badName = stackNameProblem(stack);
  if (badName) throw new StackFileError(`stack ${JSON.stringify(stack)}: ${badName} (from ${opts.stack !== undefined ? "--stack" : `the file name ${path.basename(file)}; pass --stack`})`);
  if (!fs.existsSync(file)) throw new StackFileError(`stack file not found: ${file}`);
  const { project, issues: projectIssues } = parseProject(parseYaml(path.join(opts.projectDir, "Pulumi.yaml")));
  if (!project) throw new ConfigError(projectIssues);

  const doc = parseYaml(file) ?? {};
  if (!isMap(doc)) throw new StackFileError(`${file} is not a stack file: expected a mapping with a config: section`);
  const section = doc.config ?? {};
  if (!isMap(section)) throw new ConfigError([{ key: "config", message: `must be a mapping of <namespace>:<name> keys to values (${file})` }]);

  const values = new Map<string, StackValue>();
  const keyIssues: ConfigIssue[] = [];
  for (const [written, value] of Object.entries(section)) {
    const key = parseConfigKey(written);
    if (!key) {
      keyIssues.push({
        key: written,
        message:
          `could not parse ${written} as a configuration key (configuration keys should be of the form \`<namespace>:<name>\`` +
          (written.includes(":") ? ")" : `, e.g. ${project.name}:${written})`),
      });
    } else if (value === null || value === undefined) {
      keyIssues.push({ key, message: "has no value (remove the key or give it one)" });
    } else {
      values.set(key, { value: pulumiText(value), secure: isSecure(value) });
    }
  }
  if (keyIssues.length > 0) throw new ConfigError(keyIssues);

  const applied = applyProjectConfig(stack, project, values);
  if (applied.issues.length > 0) throw new ConfigError(applied.issues);

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, { value }] of applied.values) {
    const { value: v, secret } = hideSecrets(value);
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
    if (secret) secretKeys.push(k);
  }
  return { stack, config, secretKeys };
}

/**
 * The stack's config validated as `lifeboat plan` does before it runs the program: as the program
 * validates it, and with each value's own secrecy. Every `secure:` value is the placeholder here,
 * so any other value of a secret field that carries a credential was written in clear, also one
 * beside a `secure:` value in the same key, which the program itself cannot tell apart (Pulumi
 * marks secrets per top-level key: see `isSecretKey`).
 */
export function validateStackFile(sf: StackFile): LifeboatConfig {
  return validateStackConfig(rawStackConfig(sf.config), sf.stack, { isSecret: (_path, value) => isPlaceholder(value) });
}

/**
 * YAML errors name the line and column only: the parser's excerpt of the offending line could
 * hold a secret (a decrypted value pasted in by mistake), so it is never printed.
 */
function parseYaml(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new StackFileError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  if (text.includes("\u0000")) throw new StackFileError(`${file} is not a YAML text file (it holds NUL bytes)`);
  try {
    return YAML.parse(text);
  } catch (e) {
    const err = e as { linePos?: { line: number; col: number }[]; code?: string; message: string };
    const where = err.linePos?.[0] ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
    const what = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new StackFileError(`${file} is not valid YAML${where}: ${what}`);
  }
}

/**
 * config.ParseKey: `<namespace>:<name>`, or `<namespace>:config:<name>`. A stack file key
 * without a namespace is refused by Pulumi, so it is refused here too.
 */
export function parseConfigKey(written: string): string | undefined {
  const parts = written.split(":");
  if (parts.length === 2 && parts[0] && parts[1]) return written;
  if (parts.length === 3 && parts[0] && parts[1] === "config" && parts[2]) return `${parts[0]}:${parts[2]}`;
  return undefined;
}

/** Pulumi keeps stack scalars as text (`90`, `true`); structured values keep their shape. */
function pulumiText(value: unknown): unknown {
  return typeof value === "number" || typeof value === "boolean" ? String(value) : value;
}

function isSecure(value: unknown): boolean {
  return isMap(value) && Object.keys(value).length === 1 && "secure" in value;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function hideSecrets(value: unknown): { value: unknown; secret: boolean } {
  if (Array.isArray(value)) {
    const parts = value.map(hideSecrets);
    return { value: parts.map((p) => p.value), secret: parts.some((p) => p.secret) };
  }
  if (isSecure(value)) return { value: SECRET_PLACEHOLDER, secret: true };
  if (isMap(value)) {
    let secret = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const p = hideSecrets(v);
      out[k] = p.value;
      secret ||= p.secret;
    }
    return { value: out, secret };
  }
  return { value, secret: false };
}
