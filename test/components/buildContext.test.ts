import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BUILD_INPUTS, buildContextDigest } from "../../components/schedule/buildContext";

const REPO = join(__dirname, "../..");

function context(): string {
  const root = mkdtempSync(join(tmpdir(), "lifeboat-context-"));
  for (const [rel, text] of Object.entries({
    "runner/Dockerfile": "FROM x", "runner/image/package.json": "{}", "runner/image/image-lock.json": "{}",
    "runner/package.json": "{}", "runner/dist/cli.js": "", "runner/bin/lifeboat-runner.js": "",
    "core/package.json": "{}", "core/dist/index.js": "",
  })) put(root, rel, text);
  return root;
}

function put(root: string, rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

describe("buildContextDigest", () => {
  it("changes when a file the Dockerfile copies changes or appears", () => {
    for (const [rel, text] of [["runner/dist/cli.js", "exports.x = 1"], ["core/dist/new.js", ""], ["runner/image/image-lock.json", "{\"v\":2}"],
      ["runner/Dockerfile", "FROM y"], ["runner/bin/lifeboat-runner.js", "x"], ["core/package.json", "{\"version\":\"2\"}"]] as const) {
      const root = context();
      const before = buildContextDigest(root);
      put(root, rel, text);
      expect([rel, buildContextDigest(root)]).not.toEqual([rel, before]);
    }
  });

  it("ignores what the build never sees: sources, the repository lockfile, installed modules, tests, docs", () => {
    const root = context();
    const before = buildContextDigest(root);
    for (const rel of ["runner/src/cli.ts", "core/src/index.ts", "package-lock.json", "package.json", "node_modules/x/index.js",
      "runner/tsconfig.tsbuildinfo", "test/a.test.ts", "docs/x.md"]) put(root, rel, "x");
    expect(buildContextDigest(root)).toBe(before);
  });
});

describe("what the build reads", () => {
  // The digest, the context allowlist and the published package must name the same files, or an
  // installed package misses one (the build fails) or a change to one never triggers a rebuild.
  it("is the .dockerignore allowlist and is shipped in the lifeboat package", () => {
    const allowed = readFileSync(join(REPO, ".dockerignore"), "utf8").split("\n").filter((l) => l.startsWith("!")).map((l) => l.slice(1));
    expect(allowed.sort()).toEqual([...BUILD_INPUTS].sort());
    const files: string[] = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).files;
    expect(BUILD_INPUTS.filter((f) => !files.includes(f))).toEqual([]);
    expect(files).toContain(".dockerignore");
  });

  it("every file the Dockerfile COPYs from the context is a build input", () => {
    const copies = readFileSync(join(REPO, "runner/Dockerfile"), "utf8").split("\n")
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from"))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.filter((c) => !BUILD_INPUTS.includes(c as typeof BUILD_INPUTS[number]))).toEqual([]);
  });
});
