/**
 * Runs the containers a plan declares with podman, as the Docker provider would create them
 * (see podmanArgs.ts for the translation), for the container e2e suite.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { exec, ExecResult } from "./exec";
import { PodmanContainer, podmanCreateArgs, Substitutions } from "./podmanArgs";
import { REPO } from "./runner";

/**
 * The image the suites run: what `npm run image:build` tags (DEFAULT_RUNNER_IMAGE), or the tag in
 * LIFEBOAT_E2E_IMAGE (`scripts/image.sh build --tag …`), so that several checkouts sharing one
 * image store each test the image of their own code.
 */
export const RUNNER_IMAGE = process.env.LIFEBOAT_E2E_IMAGE || "ghcr.io/lifeboat-dr/lifeboat-runner:0.1.0";

const env = (): NodeJS.ProcessEnv => ({ ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? join(REPO, "scripts/containers.conf") });

export function podman(args: string[], input?: string | Buffer): Promise<ExecResult> {
  return exec("podman", args, { env: env(), ...(input !== undefined ? { input } : {}) });
}

export async function podmanOk(args: string[], input?: string | Buffer): Promise<string> {
  const r = await podman(args, input);
  if (r.code !== 0) throw new Error(`podman ${args.slice(0, 2).join(" ")} … exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Throws, naming what is missing, unless podman and the runner image (`npm run image:build`) are here. */
export function requirePodman(): void {
  const r = spawnSync("podman", ["--version"], { encoding: "utf8", env: env() });
  if (r.error || r.status !== 0) throw new Error("test prerequisite missing: 'podman' is not installed (Debian packages: podman runc catatonit)");
  const img = spawnSync("podman", ["image", "exists", RUNNER_IMAGE], { env: env() });
  if (img.status !== 0) throw new Error(`the runner image ${RUNNER_IMAGE} is not built: run \`npm run image:build\` first`);
}

/** A planned resource as `runPlan` reports it. */
export interface Planned {
  type: string;
  name: string;
  parent?: string;
  inputs: Record<string, unknown>;
}

/**
 * `lifeboat plan` for a stack file, run from the built dist/ (as the CLI does) but with secret
 * inputs revealed, so that the containers get the test stack's loopback credentials. The JSON
 * travels over a pipe only.
 */
export async function planRevealed(stackFile: string): Promise<Planned[]> {
  const code = `
    const path = require("path");
    const { runPlan } = require(path.join(process.argv[1], "dist/cli/plan/runPlan.js"));
    const { readStackFile } = require(path.join(process.argv[1], "dist/cli/plan/stackFile.js"));
    const { lifeboatProgram } = require(path.join(process.argv[1], "dist/components/program.js"));
    const sf = readStackFile({ projectDir: process.argv[1], file: process.argv[2] });
    // The suite's stack holds its loopback credentials in clear (plan cannot decrypt secure:
    // values); Pulumi hands a program such values decrypted with their keys marked secret.
    sf.secretKeys.push("lifeboat:sources", "lifeboat:ageIdentity", "lifeboat:verification");
    runPlan(lifeboatProgram, sf, "lifeboat", { revealSecrets: true })
      .then((r) => { process.stdout.write(JSON.stringify(r.resources)); process.exit(0); }, (e) => { console.error(e.message); process.exit(1); });`;
  const r = await exec(process.execPath, ["-e", code, REPO, stackFile], { cwd: REPO });
  if (r.code !== 0) throw new Error(`plan of ${stackFile} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Planned[];
}

/** The containers a plan declares, whatever their names and number. */
export const plannedContainers = (plan: Planned[]) => plan.filter((r) => r.type === "docker:index/container:Container");

/** Named volumes the plan declares (state volumes), by their Docker name. */
export const plannedVolumes = (plan: Planned[]) => plan.filter((r) => r.type === "docker:index/volume:Volume").map((r) => String(r.inputs.name));

/**
 * Creates, uploads into and starts one planned container, as the provider does: host
 * directories of bind volumes first, then the container, then its uploads (a tar with each
 * file's mode and owner, extracted at `/` so that missing parent directories are made), then start.
 */
export async function runPlannedContainer(inputs: Record<string, unknown>, subs: Substitutions): Promise<PodmanContainer> {
  const c = podmanCreateArgs(inputs, subs);
  for (const d of c.hostDirs) mkdirSync(d, { recursive: true });
  await podmanOk(["create", ...c.args]);
  for (const u of c.uploads) {
    const dir = mkdtempSync(join(tmpdir(), "lifeboat-upload-"));
    try {
      const rel = u.file.replace(/^\/+/, "");
      mkdirSync(join(dir, dirname(rel)), { recursive: true });
      writeFileSync(join(dir, rel), u.content);
      chmodSync(join(dir, rel), parseInt(u.permissions, 8));
      const tar = spawnSync("tar", ["--create", "--file=-", "--numeric-owner", `--owner=${u.owner}`, `--group=${u.group}`, "--no-recursion", "-C", dir, rel]);
      if (tar.status !== 0) throw new Error(`tar of upload ${u.file} failed: ${tar.stderr}`);
      // --archive=false keeps the tar's owners (the default chowns to the container's user).
      await podmanOk(["cp", "--archive=false", "-", `${c.name}:/`], tar.stdout);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  await podmanOk(["start", c.name]);
  return c;
}

/** Waits for a one-shot container to exit; its exit code and logs. */
export async function waitForExit(name: string, timeoutMs: number): Promise<{ code: number; logs: string }> {
  const r = await Promise.race([
    podmanOk(["wait", name]),
    new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`${name} did not exit within ${timeoutMs} ms`)), timeoutMs).unref()),
  ]);
  const logs = await podman(["logs", name]);
  return { code: Number(r.trim()), logs: logs.stdout + logs.stderr };
}
