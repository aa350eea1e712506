import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildContextDigest } from "../../components/schedule/buildContext";

function context(): string {
  const root = mkdtempSync(join(tmpdir(), "lifeboat-context-"));
  for (const [rel, text] of Object.entries({
    "package.json": "{}", "package-lock.json": "{}", "tsconfig.base.json": "{}", "runner/Dockerfile": "FROM x",
    "runner/package.json": "{}", "runner/src/cli.ts": "export {}", "core/package.json": "{}", "core/src/index.ts": "export {}",
  })) put(root, rel, text);
  return root;
}

function put(root: string, rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

describe("buildContextDigest", () => {
  it("changes when a file the Dockerfile builds from changes or appears", () => {
    for (const [rel, text] of [["runner/src/cli.ts", "export const x = 1"], ["core/src/new.ts", "export {}"], ["package-lock.json", "{\"v\":2}"], ["runner/Dockerfile", "FROM y"]] as const) {
      const root = context();
      const before = buildContextDigest(root);
      put(root, rel, text);
      expect([rel, buildContextDigest(root)]).not.toEqual([rel, before]);
    }
  });

  it("ignores what the build never sees: build output, installed modules, tests, docs", () => {
    const root = context();
    const before = buildContextDigest(root);
    for (const rel of ["runner/dist/cli.js", "core/node_modules/x/index.js", "runner/tsconfig.tsbuildinfo", "test/a.test.ts", "docs/x.md"]) put(root, rel, "x");
    expect(buildContextDigest(root)).toBe(before);
  });
});
