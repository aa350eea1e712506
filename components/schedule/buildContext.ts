/**
 * What `runner/Dockerfile` reads from its build context, as one digest: the Docker host
 * rebuilds the image (RemoteImage `triggers`) exactly when one of these files changes, and
 * otherwise keeps the image id, so `pulumi up` does not replace the containers.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** The Dockerfile's COPY sources (files, and directories taken whole minus what .dockerignore drops). */
export const BUILD_INPUTS = ["package.json", "package-lock.json", "tsconfig.base.json", "runner/Dockerfile", "core", "runner"] as const;

/** Left out of the context by .dockerignore, at any depth. */
const IGNORED = new Set(["node_modules", "dist"]);

function files(root: string, rel: string): string[] {
  const abs = join(root, rel);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).sort()
    .filter((e) => !IGNORED.has(e) && !e.endsWith(".tsbuildinfo"))
    .flatMap((e) => files(root, `${rel}/${e}`));
}

/** sha256 over the path and content of every build input under `context`. */
export function buildContextDigest(context: string): string {
  const h = createHash("sha256");
  for (const rel of [...new Set(BUILD_INPUTS.flatMap((p) => files(context, p)))].sort()) {
    h.update(`${rel}\0`).update(readFileSync(join(context, rel))).update("\0");
  }
  return h.digest("hex");
}
