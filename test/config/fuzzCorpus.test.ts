import * as fs from "fs";
import * as path from "path";
import { ConfigError } from "../../components/config";
import { readStackFile, StackFileError, validateStackFile } from "../../cli/plan/stackFile";
import { plan, ROOT } from "../cli/planCli";

/**
 * The stack-file corpus (test/fixtures/fuzz): wrong types, missing and unknown keys, bad names,
 * schedules, durations, numeric ranges, regions, age keys, secret-bearing values, YAML errors,
 * empty and binary files. expected.json gives each file's exit code (2 invalid config, 1 a
 * mandatory policy violation), the key or policy the output must name, and any secret it must
 * not contain.
 *
 * Every exit-2 case runs in this process through the same two steps `lifeboat plan` takes
 * before the program (readStackFile, then validateStackFile): fast, and any other exception is
 * the crash (exit 3, stack trace) the corpus exists to catch. The CLI itself is spawned for the
 * policy cases, which must run the program, and for a sample of the others.
 */
interface Expected {
  exit: 1 | 2;
  expect: string;
  secret?: string;
}
const DIR = path.join(ROOT, "test/fixtures/fuzz");
const cases = Object.entries(JSON.parse(fs.readFileSync(path.join(DIR, "expected.json"), "utf8")) as Record<string, Expected>);

/** What `lifeboat plan --config FILE` prints to stderr on invalid config, or undefined when the config is valid. */
function configError(file: string): string | undefined {
  try {
    const sf = readStackFile({ projectDir: ROOT, file });
    validateStackFile(sf);
    return undefined;
  } catch (e) {
    if (ConfigError.is(e) || e instanceof StackFileError) return `lifeboat plan: ${(e as Error).message}\n`;
    throw e;
  }
}

describe("stack-file corpus", () => {
  it("has one expectation per file, and a file per expectation", () => {
    const files = fs.readdirSync(DIR).filter((f) => f !== "expected.json").sort();
    expect(cases.map(([f]) => f).sort()).toEqual(files);
    expect(cases.length).toBeGreaterThanOrEqual(100);
  });

  it.each(cases.filter(([, e]) => e.exit === 2))("%s: exit 2 naming the key, no secret", (file, e) => {
    const out = configError(path.join(DIR, file));
    expect(out).toBeDefined();
    expect(out).toContain(e.expect.startsWith("lifeboat:") || e.expect === "storage" || e.expect === "config" ? `  ${e.expect}: ` : e.expect);
    if (e.secret) expect(out).not.toContain(e.secret);
    expect(out).not.toMatch(/^\s+at /m);
  });

  it.each(cases.filter(([, e]) => e.exit === 1))("%s: valid config the policy pack refuses", (file) => {
    expect(configError(path.join(DIR, file))).toBeUndefined();
  });

  // The real CLI, one process per file, run side by side: the policy cases and a sample across the categories.
  const spawned = cases.filter(([f, e]) =>
    e.exit === 1 ||
    ["Pulumi.prod-binary-nul.yaml", "Pulumi.prod-secret-yaml-error.yaml", "Pulumi.prod-secret-db-url.yaml", "Pulumi.prod-age-identity-as-recipient.yaml"].includes(f));

  it(`lifeboat plan --config exits as expected, names the key or policy and leaks nothing (${spawned.length} files)`, async () => {
    const results = await Promise.all(spawned.map(async ([file, e]) => {
      const r = await plan("--config", path.join("test/fixtures/fuzz", file));
      const out = r.stdout + r.stderr;
      return {
        file,
        exit: r.code,
        names: out.includes(e.expect),
        leaks: e.secret !== undefined && out.includes(e.secret),
        stackTrace: /^\s+at /m.test(out),
      };
    }));
    expect(results).toEqual(spawned.map(([file, e]) => ({ file, exit: e.exit, names: true, leaks: false, stackTrace: false })));
  }, 60_000);
});
