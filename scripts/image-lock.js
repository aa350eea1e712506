#!/usr/bin/env node
/**
 * The runner image's own npm manifest and lockfile (runner/image/): the image installs exactly the
 * production dependencies of lifeboat-core and lifeboat-runner at the versions the repository's
 * package-lock.json pins. npm never packs a package-lock.json, so the installed `lifeboat` package
 * could not `npm ci` the repository's lockfile; these two files ship in it instead (package.json
 * `files`), and test/components/imageLock.test.ts fails when they no longer match package-lock.json.
 *
 *   node scripts/image-lock.js   rewrites runner/image/{package.json,image-lock.json}
 */
"use strict";
const { readFileSync, writeFileSync, mkdirSync } = require("node:fs");
const { join } = require("node:path");

const WORKSPACES = ["core", "runner"];
const MANIFEST = { name: "lifeboat-runner-image", private: true, workspaces: WORKSPACES };

/** Where node would find `name` when required from the package installed at `from` (a lockfile key). */
function resolve(packages, from, name) {
  for (let base = from; ; ) {
    const key = `${base ? `${base}/` : ""}node_modules/${name}`;
    if (packages[key]) return packages[key].link ? packages[key].resolved : key;
    if (base === "") return undefined;
    const i = base.lastIndexOf("/node_modules/");
    base = i < 0 ? "" : base.slice(0, i);
  }
}

/** The image's lockfile: the workspaces, their links, and every package their runtime dependencies reach. */
function imageLock(rootLock) {
  const { packages } = rootLock;
  const keep = new Set();
  const visit = (key) => {
    if (keep.has(key)) return;
    keep.add(key);
    const p = packages[key];
    const optional = new Set(Object.keys(p.optionalDependencies ?? {}).concat(Object.keys(p.peerDependenciesMeta ?? {}).filter((n) => p.peerDependenciesMeta[n].optional)));
    // A workspace's devDependencies must be locked too (npm ci checks the manifest against the
    // lockfile even with --omit=dev, which then leaves them out of the image).
    const dev = WORKSPACES.includes(key) ? p.devDependencies : {};
    for (const name of Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies, ...dev })) {
      const dep = resolve(packages, key, name);
      // A missing optional dependency (another platform's binary, an unused peer) is fine; anything else is a broken lockfile.
      if (dep === undefined) { if (optional.has(name)) continue; throw new Error(`package-lock.json: ${name}, needed by ${key}, is not locked`); }
      visit(dep);
    }
  };
  WORKSPACES.forEach(visit);
  for (const [key, p] of Object.entries(packages)) if (p.link && keep.has(p.resolved)) keep.add(key);
  const out = { "": { ...MANIFEST } };
  for (const key of Object.keys(packages).sort()) if (keep.has(key)) out[key] = packages[key];
  return { name: MANIFEST.name, lockfileVersion: 3, requires: true, packages: out };
}

/** The two files, as written under runner/image/. */
function imageFiles(rootLock) {
  const json = (v) => `${JSON.stringify(v, null, 2)}\n`;
  return { "package.json": json(MANIFEST), "image-lock.json": json(imageLock(rootLock)) };
}

module.exports = { imageFiles, imageLock, resolve };

if (require.main === module) {
  const root = join(__dirname, "..");
  const dir = join(root, "runner", "image");
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(imageFiles(JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8"))))) writeFileSync(join(dir, f), text);
}
