import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { ConfigError, ConfigIssue } from "../../components/config";
import { applyProjectConfig, missingKeysMessage, parseProject, Project, stackNameProblem, StackValue } from "../../cli/plan/projectConfig";
import { readStackFile } from "../../cli/plan/stackFile";

const root = path.resolve(__dirname, "../..");

/** A project directory holding `pulumiYaml` and one stack file. */
function projectDir(pulumiYaml: string, stackYaml: string, stack = "dev"): { dir: string; stack: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lifeboat-project-"));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), pulumiYaml);
  fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), stackYaml);
  return { dir, stack };
}

function issuesReading(pulumiYaml: string, stackYaml: string, stack = "dev"): ConfigIssue[] {
  const p = projectDir(pulumiYaml, stackYaml, stack);
  try {
    readStackFile({ projectDir: p.dir, stack: p.stack });
  } catch (e) {
    if (ConfigError.is(e)) return e.issues;
    throw e;
  } finally {
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
  return [];
}

const project = (body: string) => `name: app\nruntime: nodejs\nconfig:\n${body}`;

describe("Pulumi project config, as Pulumi checks it before the program runs", () => {
  it.each(["prod", "staging"])("the shipped Pulumi.yaml accepts the shipped %s stack", (stack) => {
    const sf = readStackFile({ projectDir: root, stack });
    expect(sf.config["lifeboat:prefix"]).toBe("backups");
    expect(sf.config["lifeboat:credentialRotationDays"]).toBe("90");
  });

  it("the shipped Pulumi.yaml is a valid project file that requires only storage, sources and ageRecipients", () => {
    const { project: p, issues } = parseProject(YAML.parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")));
    expect(issues).toEqual([]);
    const required = [...p!.config].filter(([, d]) => d.default === undefined && d.value === undefined).map(([k]) => k).sort();
    expect(required).toEqual(["lifeboat:ageRecipients", "lifeboat:sources", "lifeboat:storage"]);
  });

  it("lists every missing required key, sorted, in Pulumi's words", () => {
    expect(missingKeysMessage("staging", ["lifeboat:b"])).toBe("Stack 'staging' is missing configuration value 'lifeboat:b'");
    expect(missingKeysMessage("s", ["c", "a", "b"])).toBe("Stack 's' is missing configuration values 'a', 'b' and 'c'");
    const issues = issuesReading(project("  app:b:\n    type: string\n  a:\n    description: untyped and required too\n  app:c: 3\n"), "config: {}\n");
    expect(issues.map((i) => i.key)).toEqual(["app:a", "app:b"]);
    expect(issues[0]!.message).toMatch(/is required: Pulumi.yaml declares it without a default.*"Stack 'dev' is missing configuration value 'a'"/);
  });

  it("matches project keys with and without the namespace, and not other namespaces", () => {
    const p = parseProject(YAML.parse(project("  x: 1\n  app:y: true\n  aws:region: eu-west-1\n  other:key:\n    description: d\n    value: v\n"))).project!;
    const { values, issues } = applyProjectConfig("dev", p, new Map());
    expect(issues).toEqual([]);
    expect(Object.fromEntries([...values].map(([k, v]) => [k, v.value]))).toEqual({ "app:x": 1, "app:y": true, "aws:region": "eu-west-1", "other:key": "v" });
  });

  it("checks declared types on the stack's values as Pulumi does (integers may be digit text, booleans true/false)", () => {
    const decl = project(
      "  n:\n    type: integer\n    default: 1\n  b:\n    type: boolean\n    default: false\n  s:\n    type: string\n    default: x\n" +
        "  l:\n    type: array\n    items:\n      type: string\n    default: []\n",
    );
    expect(issuesReading(decl, "config:\n  app:n: '42'\n  app:b: 'true'\n  app:s: 5\n  app:l: [a, b]\n")).toEqual([]);
    const bad = issuesReading(decl, "config:\n  app:n: 4.5\n  app:b: yes\n  app:s: {a: 1}\n  app:l: [a, {b: 1}]\n");
    expect(bad.map((i) => [i.key, i.message.replace(/ as Pulumi.*$/, "")])).toEqual([
      ["app:n", "must be of type 'integer'"],
      ["app:b", "must be of type 'boolean'"],
      ["app:s", "must be of type 'string'"],
      ["app:l", "must be of type 'array<string>'"],
    ]);
    expect(bad[0]!.message).toContain(`"Stack 'dev' with configuration key 'n' must be of type 'integer'"`);
  });

  it("requires secret keys to be secure in the stack, also when a default would apply", () => {
    const decl = project("  token:\n    type: string\n    secret: true\n    default: none\n");
    expect(issuesReading(decl, "config:\n  app:token:\n    secure: v1:abc\n")).toEqual([]);
    for (const stack of ["config:\n  app:token: plain-text-token\n", "config: {}\n"]) {
      const issues = issuesReading(decl, stack);
      expect(issues).toEqual([{ key: "app:token", message: expect.stringContaining("must be encrypted as it's secret") }]);
      expect(JSON.stringify(issues)).not.toContain("plain-text-token");
    }
  });

  it.each([
    ["  k:\n    type: object\n", /type must be one of 'string', 'integer', 'boolean', 'array'/],
    ["  k:\n    type: array\n", /declares an array but does not specify the underlying type via the 'items' attribute/],
    ["  k:\n    type: integer\n    default: ten\n", /The default value specified for configuration key 'k' is not of the expected type 'integer'/],
    ["  k:\n    default: 1\n    value: 2\n", /cannot have both a 'default' and 'value' attribute/],
    ["  k:\n    required: false\n", /additionalProperties 'required' not allowed/],
    ["  aws:region:\n    type: string\n    value: x\n", /is not namespaced by the project and should not define a type/],
    ["  aws:region:\n    default: eu-west-1\n", /Did you mean to use the 'value' attribute instead of 'default'\?/],
    ["  aws:region:\n    description: d\n", /is namespaced and must provide an attribute 'value'/],
  ])("refuses a Pulumi.yaml declaration Pulumi refuses: %j", (body, message) => {
    const { issues } = parseProject(YAML.parse(project(body)));
    expect(issues).toEqual([{ key: expect.stringMatching(/^Pulumi.yaml config '(k|aws:region)'$/), message: expect.stringMatching(message) }]);
  });

  it("refuses stack keys without a namespace, naming them", () => {
    const issues = issuesReading(project("  a: 1\n"), "config:\n  storage: x\n  app:config:a: 2\n");
    expect(issues).toEqual([{ key: "storage", message: expect.stringMatching(/configuration keys should be of the form `<namespace>:<name>`/) }]);
  });

  it("a value from the project applies only when the stack does not set the key", () => {
    const p: Project = parseProject(YAML.parse(project("  a: 1\n"))).project!;
    const stackValues = new Map<string, StackValue>([["app:a", { value: "2", secure: false }]]);
    expect(applyProjectConfig("dev", p, stackValues).values.get("app:a")).toEqual({ value: "2", secure: false });
  });
});

describe("stack names, as Pulumi parses them", () => {
  it.each([
    ["prod", undefined],
    ["Prod_EU.2", undefined],
    ["my stack", "invalid character \" \" at position 2"],
    ["x".repeat(101), "cannot exceed 100 characters"],
  ])("%j", (stack, problem) => {
    if (problem === undefined) expect(stackNameProblem(stack)).toBeUndefined();
    else expect(stackNameProblem(stack)).toContain(problem);
  });

  it("refuses a stack file whose name makes an invalid stack name, before reading it", () => {
    const p = projectDir(project("  a: 1\n"), "config: {}\n", "my stack");
    expect(() => readStackFile({ projectDir: p.dir, file: path.join(p.dir, "Pulumi.my stack.yaml") })).toThrow(
      /stack "my stack": a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character " " at position 2 \(from the file name/,
    );
    fs.rmSync(p.dir, { recursive: true, force: true });
  });
});
