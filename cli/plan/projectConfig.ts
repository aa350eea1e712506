import { ConfigIssue } from "../../components/config/errors";

/**
 * The checks Pulumi makes on `config:` in Pulumi.yaml and on a stack's values against it, before
 * the program runs (pulumi/pulumi sdk/go/common/workspace: project.json, Project.Validate,
 * RewriteShorthandConfigValues, mergeConfig, validateStackConfigValue, ValidateConfigValue).
 * No Pulumi CLI can run here, so `lifeboat plan` reproduces them: a stack Pulumi would refuse,
 * plan refuses first, with Pulumi's wording.
 *
 * The rules, as Pulumi applies them:
 * - A declaration is a shorthand scalar (string, integer, boolean) or an object with only
 *   `type`, `items`, `description`, `secret`, `default`, `value`. `type` is one of string,
 *   integer, boolean, array (there is no object type); an array needs `items`.
 * - Keys with no namespace, or the project's own, are project keys: they may have a type and
 *   a `default`; a shorthand scalar is their default. Other namespaces (`aws:region`) take no
 *   type and no default, only a `value`; a shorthand scalar is their value.
 * - A project key with neither `default` nor `value` is required: a stack without it stops with
 *   "Stack 'NAME' is missing configuration value(s) 'k1', 'k2' and 'k3'". There is no way to
 *   declare a key optional without a default.
 * - Typed keys are checked against the stack's value: integer accepts text that parses as a
 *   whole number, boolean accepts true/false, string any scalar (stack scalars are text).
 *   `secret: true` needs the stack value to be `secure:`, also when it came from a default.
 */

export type ConfigType = "string" | "integer" | "boolean" | "array";
const CONFIG_TYPES: readonly string[] = ["string", "integer", "boolean", "array"];
const DECLARATION_FIELDS: readonly string[] = ["type", "items", "description", "secret", "default", "value"];

export interface ItemsType {
  type: ConfigType;
  items?: ItemsType;
}

export interface ConfigDeclaration {
  type?: ConfigType;
  items?: ItemsType;
  default?: unknown;
  value?: unknown;
  secret: boolean;
}

export interface Project {
  name: string;
  /** Declarations by full key (`lifeboat:prefix`), as `key` in Pulumi.yaml spells it in `written`. */
  config: Map<string, ConfigDeclaration & { written: string }>;
}

/** A stack file value: as written (scalars as text, like Pulumi stores them), and whether it was `secure:`. */
export interface StackValue {
  value: unknown;
  secure: boolean;
}

/** Pulumi.yaml's own mistakes, in Pulumi's words; each names the `config:` key. */
export function parseProject(doc: unknown): { project?: Project; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  if (!isMap(doc)) return { issues: [{ key: "Pulumi.yaml", message: "expected project to be an object" }] };
  const name = doc.name;
  if (typeof name !== "string" || name === "") {
    return { issues: [{ key: "Pulumi.yaml name", message: "project is missing a non-empty string 'name' attribute" }] };
  }
  const config = new Map<string, ConfigDeclaration & { written: string }>();
  const declared = doc.config ?? {};
  if (!isMap(declared)) return { issues: [{ key: "Pulumi.yaml config", message: "must be a map of configuration keys to their types" }] };
  for (const [written, raw] of Object.entries(declared)) {
    const key = `Pulumi.yaml config '${written}'`;
    const ownKey = !written.includes(":") || written.startsWith(name + ":");
    let decl: ConfigDeclaration;
    if (raw === null || raw === undefined) {
      issues.push({ key, message: "expected a value or a declaration, got nothing" });
      continue;
    } else if (isScalar(raw)) {
      if (typeof raw === "number" && !Number.isInteger(raw)) {
        issues.push({ key, message: "a shorthand value must be a string, integer or boolean" });
        continue;
      }
      // RewriteShorthandConfigValues: a project key's scalar is its default, another namespace's its value.
      decl = ownKey ? { default: raw, secret: false } : { value: raw, secret: false };
    } else if (isMap(raw)) {
      const unknown = Object.keys(raw).filter((f) => !DECLARATION_FIELDS.includes(f));
      if (unknown.length > 0) {
        issues.push({ key, message: `additionalProperties ${unknown.map((u) => `'${u}'`).join(", ")} not allowed` });
        continue;
      }
      const typeIssue = checkTypeDecl(raw.type, raw.items);
      if (typeIssue) {
        issues.push({ key, message: typeIssue });
        continue;
      }
      if (raw.secret !== undefined && typeof raw.secret !== "boolean") {
        issues.push({ key, message: "'secret' must be true or false" });
        continue;
      }
      decl = {
        ...(raw.type !== undefined ? { type: raw.type as ConfigType } : {}),
        ...(raw.items !== undefined ? { items: raw.items as ItemsType } : {}),
        ...(raw.default !== undefined && raw.default !== null ? { default: raw.default } : {}),
        ...(raw.value !== undefined && raw.value !== null ? { value: raw.value } : {}),
        secret: raw.secret === true,
      };
    } else {
      issues.push({ key, message: "must be a string, integer, boolean or a declaration ({type, description, default, …})" });
      continue;
    }
    // Project.Validate.
    if (decl.default !== undefined && decl.value !== undefined) {
      issues.push({ key, message: `project config '${written}' cannot have both a 'default' and 'value' attribute` });
    } else if (ownKey) {
      if (decl.type && decl.default !== undefined && !valueHasType(decl.type, decl.items, decl.default)) {
        issues.push({ key, message: `The default value specified for configuration key '${written}' is not of the expected type '${fullTypeName(decl.type, decl.items)}'` });
      }
    } else if (decl.type) {
      issues.push({ key, message: `Configuration key '${written}' is not namespaced by the project and should not define a type` });
    } else if (decl.default !== undefined) {
      issues.push({
        key,
        message: `Configuration key '${written}' is not namespaced by the project and should not define a default value. Did you mean to use the 'value' attribute instead of 'default'?`,
      });
    } else if (decl.value === undefined) {
      issues.push({ key, message: `Configuration key '${written}' is namespaced and must provide an attribute 'value'` });
    }
    config.set(ownKey && !written.includes(":") ? `${name}:${written}` : written, { ...decl, written });
  }
  return issues.length ? { issues } : { project: { name, config }, issues };
}

/**
 * The stack's values with the project's defaults and values merged in, or the issues Pulumi
 * would stop on: missing required keys first (all of them, as Pulumi lists them), then types and
 * secrets. Values of `secure:` keys are never looked at beyond "secure", so nothing is echoed.
 */
export function applyProjectConfig(
  stack: string,
  project: Project,
  values: Map<string, StackValue>,
): { values: Map<string, StackValue>; issues: ConfigIssue[] } {
  const merged = new Map(values);
  const missing: { key: string; written: string }[] = [];
  for (const [key, decl] of [...project.config].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (merged.has(key)) continue;
    const fallback = decl.default ?? decl.value;
    if (fallback !== undefined) merged.set(key, { value: fallback, secure: false });
    else if (key.startsWith(project.name + ":")) missing.push({ key, written: decl.written });
  }
  if (missing.length > 0) {
    return {
      values: merged,
      issues: missing.map((m) => ({
        key: m.key,
        message: `is required: Pulumi.yaml declares it without a default, so Pulumi stops with "${missingKeysMessage(stack, [m.written])}"`,
      })),
    };
  }
  const issues: ConfigIssue[] = [];
  for (const [key, decl] of project.config) {
    if (!decl.type || !key.startsWith(project.name + ":")) continue;
    const v = merged.get(key)!;
    if (decl.secret && !v.secure) {
      issues.push({
        key,
        message: `must be encrypted: Pulumi.yaml declares it secret (pulumi config set --secret ${key}); Pulumi stops with "Stack '${stack}' with configuration key '${decl.written}' must be encrypted as it's secret"`,
      });
    } else if (!v.secure && !valueHasType(decl.type, decl.items, v.value)) {
      const type = fullTypeName(decl.type, decl.items);
      issues.push({
        key,
        message: `must be of type '${type}' as Pulumi.yaml declares; Pulumi stops with "Stack '${stack}' with configuration key '${decl.written}' must be of type '${type}'"`,
      });
    }
  }
  return { values: merged, issues };
}

/**
 * tokens.ParseStackName: a stack name is 1-100 letters, digits, `-`, `_`, `.`. Pulumi's message
 * for a name it refuses, or undefined for a valid one.
 */
export function stackNameProblem(stack: string): string | undefined {
  if (stack.length === 0) return "a stack name may not be empty";
  if (stack.length > 100) return "a stack name cannot exceed 100 characters";
  const bad = [...stack].findIndex((c) => !/[A-Za-z0-9_.-]/.test(c));
  if (bad < 0) return undefined;
  return `a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character ${JSON.stringify(stack[bad])} at position ${bad}`;
}

/** Pulumi's wording: `'a'`, `'a' and 'b'`, `'a', 'b' and 'c'` (sorted). */
export function missingKeysMessage(stack: string, keys: string[]): string {
  const sorted = [...keys].sort();
  const quoted = sorted.map((k) => `'${k}'`);
  const list = quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(", ")} and ${quoted[quoted.length - 1]}`;
  return `Stack '${stack}' is missing configuration value${keys.length > 1 ? "s" : ""} ${list}`;
}

/**
 * ValidateConfigValue. Stack scalars reach it as text: `integer` is text that parses as a whole
 * number (or a whole number), `boolean` is true/false, `string` any scalar; arrays check each item.
 */
export function valueHasType(type: ConfigType, items: ItemsType | undefined, value: unknown): boolean {
  switch (type) {
    case "string":
      return isScalar(value);
    case "integer":
      if (typeof value === "number") return Number.isInteger(value);
      return typeof value === "string" && /^[+-]?\d+$/.test(value) && Number.isSafeInteger(Number(value));
    case "boolean":
      return typeof value === "boolean" || value === "true" || value === "false";
    case "array":
      return Array.isArray(value) && items !== undefined && value.every((v) => valueHasType(items.type, items.items, v));
  }
}

/** InferFullTypeName: `array<string>`. */
export function fullTypeName(type: ConfigType, items?: ItemsType): string {
  return items ? `array<${fullTypeName(items.type, items.items)}>` : type;
}

function checkTypeDecl(type: unknown, items: unknown): string | undefined {
  if (type === undefined) return items === undefined ? undefined : "'items' is only allowed with type: array";
  if (typeof type !== "string" || !CONFIG_TYPES.includes(type)) {
    return `type must be one of ${CONFIG_TYPES.map((t) => `'${t}'`).join(", ")} (Pulumi has no object type: leave structured keys untyped)`;
  }
  if (type === "array") {
    if (items === undefined) return "declares an array but does not specify the underlying type via the 'items' attribute";
    if (!isMap(items)) return "'items' must be {type: …}";
    return checkTypeDecl(items.type, items.items) ?? (items.type === undefined ? "'items' needs a 'type'" : undefined);
  }
  return items === undefined ? undefined : "'items' is only allowed with type: array";
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean";
}
