import { readFileSync } from "node:fs";
import { join } from "node:path";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { imageFiles, imageLock } = require("../../scripts/image-lock.js");

const REPO = join(__dirname, "../..");
const rootLock = () => JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8"));

describe("runner/image (the image's manifest and lockfile)", () => {
  it("matches package-lock.json (run node scripts/image-lock.js after changing dependencies)", () => {
    for (const [file, text] of Object.entries(imageFiles(rootLock()) as Record<string, string>)) {
      expect([file, readFileSync(join(REPO, "runner/image", file), "utf8")]).toEqual([file, text]);
    }
  });

  it("locks every runtime dependency of core and runner at the repository's version, and no dev tool", () => {
    const root = rootLock();
    const image = imageLock(root);
    for (const ws of ["core", "runner"]) {
      for (const name of Object.keys(root.packages[ws].dependencies)) {
        const key = `node_modules/${name}`;
        expect([name, image.packages[key]?.version ?? image.packages[key]?.resolved]).toEqual([name, root.packages[key].version ?? root.packages[key].resolved]);
      }
    }
    for (const dev of ["jest", "typescript", "@pulumi/pulumi", "s3rver"]) expect(image.packages[`node_modules/${dev}`]).toBeUndefined();
  });

  it("names a dependency the lockfile does not hold", () => {
    const root = rootLock();
    delete root.packages["node_modules/croner"];
    expect(() => imageLock(root)).toThrow("croner, needed by core, is not locked");
  });
});
