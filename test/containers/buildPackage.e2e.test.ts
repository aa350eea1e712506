/**
 * `build: true` from an installed package (issue #13): lifeboat-core and the root are packed, a fresh
 * consumer project installs the tarballs (lifeboat-* from them only; third-party dependencies from the
 * registry or npm's cache) and gets no runner runtime (AWS SDK, pg, pino), and the runner image is built with podman from the context the installed
 * library computes (defaultBuildContext) with the digest it declares as the rebuild trigger.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildContextDigest } from "../../components/schedule/buildContext";
import { exec, execOk } from "../support/exec";
import { podman, podmanOk } from "../support/podman";
import { REPO } from "../support/runner";
import { requireTool } from "../support/tools";

// podman is a test prerequisite like PostgreSQL: without it this suite fails, never skips.
requireTool("podman", "podman runc catatonit mmdebstrap");

describe("build: true from an installed lifeboat package", () => {
  const dir = mkdtempSync(join(tmpdir(), "lifeboat-consumer-"));
  const tag = `localhost/lifeboat-runner-pkg-e2e:${process.pid}`;
  afterAll(async () => {
    await podman(["rmi", "--force", tag]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("packs, installs into a consumer project and builds a runner image that runs", async () => {
    // dist is what the packages ship: bring it up to date, then pack without rerunning prepare.
    await execOk("npm", ["run", "--silent", "build"], { cwd: REPO });
    const tarballs = join(dir, "tarballs");
    mkdirSync(tarballs);
    await execOk("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", tarballs, "-w", "core"], { cwd: REPO });
    await execOk("npm", ["pack", "--ignore-scripts", "--silent", "--pack-destination", tarballs], { cwd: REPO });

    const consumer = join(dir, "program");
    mkdirSync(consumer);
    writeFileSync(join(consumer, "package.json"), JSON.stringify({
      name: "consumer", private: true,
      dependencies: Object.fromEntries(["lifeboat", "lifeboat-core"].map((n) => [n, `file:${join(tarballs, `${n}-0.1.0.tgz`)}`])),
    }));
    await execOk("npm", ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: consumer });
    // The library installs without the runner's runtime: no AWS SDK, pg or pino in the program.
    const tree = await execOk("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: consumer });
    expect(tree).not.toMatch(/"@aws-sdk\/|"pg"|"pino"|"lifeboat-runner"/);

    // What the installed library declares: the context it computes and the digest over it.
    const declared = JSON.parse(await execOk(process.execPath, ["-e", `
      const d = require("lifeboat/dist/components/schedule/docker.js");
      const b = require("lifeboat/dist/components/schedule/buildContext.js");
      const context = d.defaultBuildContext();
      console.log(JSON.stringify({ context, digest: b.buildContextDigest(context) }));`], { cwd: consumer }));
    expect(declared.context).toBe(join(consumer, "node_modules", "lifeboat"));
    // The package ships exactly the checkout's build inputs: the same trigger, so a host that built
    // the image from either keeps it (one build per host, containers keep their image id).
    expect(declared.digest).toBe(buildContextDigest(REPO));

    const build = await exec("bash", [join(REPO, "scripts/image.sh"), "build", "--context", declared.context, "--tag", tag], { cwd: consumer });
    expect([build.code, build.code === 0 ? "" : build.stderr.slice(-3000)]).toEqual([0, ""]);
    const version = await podmanOk(["run", "--rm", "--runtime", "runc", "--network", "host", tag, "--version"]);
    expect(version.trim()).toBe("0.1.0");
    // Every runner module loads: the pruned lockfile kept all that they import.
    const loaded = await podmanOk(["run", "--rm", "--runtime", "runc", "--network", "host", "--entrypoint", "node", "-w", "/app/runner", tag, "-e", `
      const fs = require("fs"); let n = 0;
      for (const d of ["dist", "dist/commands"]) for (const f of fs.readdirSync(d)) if (f.endsWith(".js")) { require("/app/runner/" + d + "/" + f); n++; }
      console.log(n);`]);
    expect(Number(loaded)).toBeGreaterThan(20);
    // The runtime dependencies are the ones runner/image/image-lock.json pins.
    const lock = JSON.parse(readFileSync(join(REPO, "runner/image/image-lock.json"), "utf8"));
    const pg = await podmanOk(["run", "--rm", "--runtime", "runc", "--network", "host", "--entrypoint", "node", tag, "-p", "require('/app/node_modules/pg/package.json').version"]);
    expect(pg.trim()).toBe(lock.packages["node_modules/pg"].version);
  }, 240_000);
});
