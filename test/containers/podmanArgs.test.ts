import { podmanCreateArgs } from "../support/podmanArgs";

/** A backup container's inputs as `lifeboat plan` declares them (secrets revealed). */
const planned = () => ({
  name: "lifeboat-e2e-wa-backup",
  image: "sha256:0123abcd",
  entrypoints: ["node", "/app/runner/bin/lifeboat-runner.js"],
  command: ["schedule", "--cron", "* * * * *", "--", "backup", "--endpoint", "https://acct.r2.cloudflarestorage.com", "--name", "wa"],
  envs: ["AWS_ACCESS_KEY_ID=id", "AWS_SECRET_ACCESS_KEY=a=b"],
  uploads: [{ file: "/run/lifeboat/age-identity.txt", content: "AGE-SECRET-KEY-1X", permissions: "0400", owner: "1000", group: "1000" }],
  mounts: [
    { type: "volume", source: "whatsapp_sessions", target: "/source", readOnly: true },
    { type: "volume", source: "state", target: "/var/lib/lifeboat", readOnly: false },
  ],
  volumes: [{ hostPath: "/srv/dr", containerPath: "/target", readOnly: false }],
  user: "0:0",
  capabilities: { drops: ["ALL"], adds: ["DAC_READ_SEARCH"] },
  securityOpts: ["no-new-privileges"],
  restart: "unless-stopped",
  init: true,
  mustRun: true,
  stopTimeout: 120,
  healthcheck: { tests: ["CMD", "node", "x.js", "status"], interval: "5m", timeout: "30s", retries: 2, startPeriod: "15m" },
  logDriver: "json-file",
  logOpts: { "max-size": "10m", "max-file": "5" },
  labels: [{ label: "lifeboat.job", value: "backup" }],
});

const subs = { image: "localhost/runner:test", endpoint: "http://127.0.0.1:9000", volumeNames: { whatsapp_sessions: "e2e-wa" }, envValues: { AWS_ACCESS_KEY_ID: "S3RVER", UNDECLARED: "x" } };

/** The value after each occurrence of `flag`. */
const values = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe("podmanCreateArgs", () => {
  it("translates every input the components declare", () => {
    const c = podmanCreateArgs(planned(), subs);
    expect(c.name).toBe("lifeboat-e2e-wa-backup");
    expect(values(c.args, "--entrypoint")).toEqual(['["node","/app/runner/bin/lifeboat-runner.js"]']);
    // A declared variable takes the harness's value; an undeclared one is not added.
    expect(values(c.args, "--env")).toEqual(["AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=a=b"]);
    expect(values(c.args, "--mount")).toEqual(["type=volume,source=e2e-wa,target=/source,ro=true", "type=volume,source=state,target=/var/lib/lifeboat"]);
    expect(values(c.args, "--volume")).toEqual(["/srv/dr:/target:rw"]);
    expect(c.hostDirs).toEqual(["/srv/dr"]);
    expect(values(c.args, "--user")).toEqual(["0:0"]);
    expect(values(c.args, "--cap-drop")).toEqual(["ALL"]);
    expect(values(c.args, "--cap-add")).toEqual(["DAC_READ_SEARCH"]);
    expect(values(c.args, "--security-opt")).toEqual(["no-new-privileges"]);
    expect(values(c.args, "--restart")).toEqual(["unless-stopped"]);
    expect(c.args).toContain("--init");
    expect(values(c.args, "--stop-timeout")).toEqual(["120"]);
    expect(values(c.args, "--health-cmd")).toEqual(['["node","x.js","status"]']);
    expect(values(c.args, "--health-interval")).toEqual(["5m"]);
    expect(values(c.args, "--health-retries")).toEqual(["2"]);
    expect(values(c.args, "--health-start-period")).toEqual(["15m"]);
    expect(values(c.args, "--log-opt")).toEqual(["max-size=10m"]);
    expect(values(c.args, "--label")).toEqual(["lifeboat.job=backup"]);
    expect(c.uploads).toEqual(planned().uploads);
    expect(c.oneShot).toBe(false);
    // Image, then the command, with the cloud endpoint swapped for the loopback one.
    const at = c.args.indexOf("localhost/runner:test");
    expect(c.args.slice(at + 1)).toEqual(["schedule", "--cron", "* * * * *", "--", "backup", "--endpoint", "http://127.0.0.1:9000", "--name", "wa"]);
  });

  it("points each job of an uploaded job table at the loopback S3 and gives its secrets the harness's values", () => {
    const table = {
      version: 1,
      jobs: [
        { name: "backup-db", cron: "* * * * *", argv: ["backup", "--endpoint", "https://acct.r2.cloudflarestorage.com", "--name", "db"], env: { AWS_ACCESS_KEY_ID: "LIFEBOAT_JOB_0_AWS_ACCESS_KEY_ID", LIFEBOAT_SOURCE_URL: "LIFEBOAT_JOB_0_LIFEBOAT_SOURCE_URL" } },
        { name: "replicate", cron: "* * * * *", argv: ["replicate", "--to-endpoint", "https://acct.r2.cloudflarestorage.com", "--endpoint", "https://acct.r2.cloudflarestorage.com"], env: { AWS_ACCESS_KEY_ID: "LIFEBOAT_JOB_1_AWS_ACCESS_KEY_ID" } },
      ],
    };
    const c = podmanCreateArgs({
      ...planned(),
      command: ["schedule", "--jobs", "/etc/lifeboat/jobs.json"],
      envs: ["LIFEBOAT_JOB_0_AWS_ACCESS_KEY_ID=cloud0", "LIFEBOAT_JOB_0_LIFEBOAT_SOURCE_URL=postgresql://db", "LIFEBOAT_JOB_1_AWS_ACCESS_KEY_ID=cloud1"],
      uploads: [{ file: "/etc/lifeboat/jobs.json", content: JSON.stringify(table), permissions: "0444" }],
    }, subs);
    expect(values(c.args, "--env")).toEqual(["LIFEBOAT_JOB_0_AWS_ACCESS_KEY_ID=S3RVER", "LIFEBOAT_JOB_0_LIFEBOAT_SOURCE_URL=postgresql://db", "LIFEBOAT_JOB_1_AWS_ACCESS_KEY_ID=S3RVER"]);
    const uploaded = JSON.parse(c.uploads[0]!.content) as typeof table;
    expect(uploaded.jobs.map((j) => j.argv)).toEqual([
      ["backup", "--endpoint", "http://127.0.0.1:9000", "--name", "db"],
      ["replicate", "--to-endpoint", "http://127.0.0.1:9000", "--endpoint", "http://127.0.0.1:9000"],
    ]);
    expect(uploaded.jobs.map((j) => j.env)).toEqual(table.jobs.map((j) => j.env));
    expect(uploaded.jobs.map((j) => j.cron)).toEqual(["* * * * *", "* * * * *"]);
    expect(() => podmanCreateArgs({ ...planned(), uploads: [{ file: "/etc/lifeboat/jobs.json", content: "{" }] }, subs)).toThrow(/uploads\[0\].content: the job table is not JSON/);
  });

  it("gives each job of an uploaded job table the harness's faster cron, and refuses a cron it has none for", () => {
    const table = (crons: string[]) => JSON.stringify({ version: 1, jobs: crons.map((cron, i) => ({ name: `job${i}`, cron, argv: ["status"] })) });
    const upload = (crons: string[]) => ({ ...planned(), command: ["schedule", "--jobs", "/etc/lifeboat/jobs.json"], envs: [], uploads: [{ file: "/etc/lifeboat/jobs.json", content: table(crons), permissions: "0444" }] });
    const faster = { ...subs, crons: { "* * * * *": "*/10 * * * * *", "0 3 * * *": "0 3 * * *" } };
    const c = podmanCreateArgs(upload(["* * * * *", "0 3 * * *"]), faster);
    expect((JSON.parse(c.uploads[0]!.content) as { jobs: { cron: string }[] }).jobs.map((j) => j.cron)).toEqual(["*/10 * * * * *", "0 3 * * *"]);
    expect(() => podmanCreateArgs(upload(["* * * * *", "*/5 * * * *"]), faster)).toThrow(/job job1's cron "\*\/5 \* \* \* \*" has no substitute/);
  });

  it("calls a container that is never restarted nor kept running a one-shot", () => {
    expect(podmanCreateArgs({ ...planned(), restart: "no", mustRun: false }, subs).oneShot).toBe(true);
    expect(podmanCreateArgs({ ...planned(), restart: "no", mustRun: true }, subs).oneShot).toBe(false);
  });

  it("fails loudly on an input it does not translate, at the top level and nested", () => {
    expect(() => podmanCreateArgs({ ...planned(), privileged: true }, subs)).toThrow(/'privileged' is not translated/);
    expect(() => podmanCreateArgs({ ...planned(), capabilities: { adds: [], drops: [], extra: 1 } }, subs)).toThrow(/capabilities has 'extra'/);
    expect(() => podmanCreateArgs({ ...planned(), mounts: [{ type: "tmpfs", target: "/x" }] }, subs)).toThrow(/mounts\[0\].type: 'tmpfs'/);
    expect(() => podmanCreateArgs({ ...planned(), mounts: [{ type: "bind", source: "/a", target: "/b", bindOptions: {} }] }, subs)).toThrow(/bindOptions/);
    expect(() => podmanCreateArgs({ ...planned(), healthcheck: { tests: ["CMD-SHELL", "true"] } }, subs)).toThrow(/exec form/);
    expect(() => podmanCreateArgs({ ...planned(), logDriver: "syslog" }, subs)).toThrow(/logDriver/);
  });

  it("refuses a redacted secret instead of running with it", () => {
    expect(() => podmanCreateArgs({ ...planned(), envs: "[secret]" }, subs)).toThrow(/envs/);
    expect(() => podmanCreateArgs({ ...planned(), envs: ["[secret]"] }, subs)).toThrow(/redacted secret/);
  });
});
