/**
 * What `runner/Dockerfile` reads from its build context, as one digest: the Docker host
 * rebuilds the image (RemoteImage `triggers`) exactly when one of these files changes, and
 * otherwise keeps the image id, so `pulumi up` does not replace the containers.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * The Dockerfile's COPY sources (files, and directories taken whole): the allowlist in
 * .dockerignore, and what the root package.json `files` ships so an installed package builds.
 */
export const BUILD_INPUTS = [
  "runner/Dockerfile", "runner/image/package.json", "runner/image/image-lock.json",
  "core/package.json", "core/dist", "runner/package.json", "runner/dist", "runner/bin",
] as const;

function files(root: string, rel: string): string[] {
  const abs = join(root, rel);
  if (!existsSync(abs)) return [];
  if (!statSync(abs).isDirectory()) return [rel];
  return readdirSync(abs).sort()
    .filter((e) => !e.endsWith(".tsbuildinfo"))
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
