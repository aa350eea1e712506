/**
 * `import … from "lifeboat"` is a Pulumi library: it must not bring the runner's runtime (the AWS
 * SDK, pg, pino) with it. The runner's command-line contract lives in lifeboat-core, so the
 * library depends on lifeboat-core and never on lifeboat-runner.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./planCli";

const RUNNER_RUNTIME = /[\\/]node_modules[\\/](@aws-sdk|@smithy|pg|pg-[a-z-]+|pgpass|pino)[\\/]|[\\/]runner[\\/](dist|src)[\\/]/;

describe("the library's footprint", () => {
  it("declares no runtime dependency on lifeboat-runner, the AWS SDK, pg or pino (nor does lifeboat-core)", () => {
    for (const file of ["package.json", "core/package.json"]) {
      const deps = Object.keys(JSON.parse(readFileSync(join(ROOT, file), "utf8")).dependencies ?? {});
      expect(deps.filter((d) => /^(lifeboat-runner|@aws-sdk\/|pg$|pg-|pgpass|pino|@types\/)/.test(d))).toEqual([]);
    }
  });

  it("loads from the built package without loading any of them", () => {
    // A fresh process, as a user's Pulumi program would be: require the package's entry point.
    const loaded: string[] = JSON.parse(execFileSync(process.execPath, ["-e", `
      require(${JSON.stringify(ROOT)});
      console.log(JSON.stringify(Object.keys(require.cache)));`], { cwd: ROOT, encoding: "utf8" }));
    expect(loaded.some((f) => f.includes(join("dist", "components", "index.js")))).toBe(true);
    expect(loaded.some((f) => f.includes(join("core", "dist")))).toBe(true);
    expect(loaded.filter((f) => RUNNER_RUNTIME.test(f))).toEqual([]);
  });

  it("npm lists no AWS SDK, pg or pino among the root package's production dependencies", () => {
    // Workspaces are the repository's own packages (dev-time links); what a consumer installs is
    // the root's dependencies, which npm lists with --workspaces=false, plus lifeboat-core's.
    const root = execFileSync("npm", ["ls", "--omit=dev", "--all", "--workspaces=false", "--json"], { cwd: ROOT, encoding: "utf8" });
    const core = execFileSync("npm", ["ls", "--omit=dev", "--all", "--workspace=lifeboat-core", "--json"], { cwd: ROOT, encoding: "utf8" });
    for (const tree of [root, core]) {
      expect(tree).not.toMatch(/"@aws-sdk\/|"pg"|"pino"|"lifeboat-runner"/);
    }
    expect(JSON.parse(core).dependencies["lifeboat-core"].dependencies).toHaveProperty("zod");
  }, 60_000);
});
