/**
 * `npm run image:push -- REGISTRY/NAME:TAG` against a real registry (Debian's docker-registry,
 * the CNCF distribution server) on loopback: the image the registry serves is the one built.
 */
import { ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../support/exec";
import { freePort, waitFor } from "../support/ports";
import { podman, podmanOk, requirePodman, RUNNER_IMAGE } from "../support/podman";
import { REPO } from "../support/runner";
import { requireTool } from "../support/tools";

// podman is a test prerequisite like PostgreSQL: without it this suite fails, never skips.
requirePodman();

describe("npm run image:push", () => {
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-registry-"));
  let registry: ChildProcess;
  let port: number;

  beforeAll(async () => {
    requireTool("docker-registry", "docker-registry");
    port = await freePort();
    const config = join(dir, "config.yml");
    writeFileSync(config, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\nhttp:\n  addr: 127.0.0.1:${port}\n`);
    registry = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
    await waitFor(`docker-registry on ${port}`, async () => (await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200);
    // A plain-HTTP registry must be declared insecure to podman, as a user would for theirs.
    writeFileSync(join(dir, "registries.conf"), `[[registry]]\nlocation = "127.0.0.1:${port}"\ninsecure = true\n`);
  });

  afterAll(async () => {
    if (registry && registry.exitCode === null) {
      const closed = new Promise((r) => registry.once("close", r));
      registry.kill("SIGTERM");
      await closed;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("tags the built image as the named reference and pushes it; the registry serves that image", async () => {
    const tag = `e2e-${randomBytes(3).toString("hex")}`;
    const ref = `127.0.0.1:${port}/lifeboat/lifeboat-runner:${tag}`;
    const r = await exec("npm", ["run", "--silent", "image:push", "--", ref, "--tag", RUNNER_IMAGE], { cwd: REPO, env: { ...process.env, CONTAINERS_REGISTRIES_CONF: join(dir, "registries.conf") } });
    try {
      expect([r.code, r.code === 0 ? "" : r.stderr]).toEqual([0, ""]);
      const tags = await (await fetch(`http://127.0.0.1:${port}/v2/lifeboat/lifeboat-runner/tags/list`)).json();
      expect(tags).toEqual({ name: "lifeboat/lifeboat-runner", tags: [tag] });
      const manifest = await (await fetch(`http://127.0.0.1:${port}/v2/lifeboat/lifeboat-runner/manifests/${tag}`, {
        headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" },
      })).json() as { config: { digest: string } };
      // The config digest is the image id: the registry holds exactly the image that was built.
      const id = (await podmanOk(["image", "inspect", "--format", "{{.Id}}", RUNNER_IMAGE])).trim();
      expect(manifest.config.digest).toBe(`sha256:${id}`);
    } finally {
      await podman(["untag", RUNNER_IMAGE, ref]);
    }
  });

  it("refuses a destination without an explicit tag, naming what it needs", async () => {
    const r = await exec("npm", ["run", "--silent", "image:push", "--", `127.0.0.1:${port}/lifeboat/lifeboat-runner`], { cwd: REPO });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/destination '127\.0\.0\.1:\d+\/lifeboat\/lifeboat-runner' must be REGISTRY\/NAME:TAG/);
  });
});
