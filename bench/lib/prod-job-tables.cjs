// Declares the prod stack (Pulumi.prod.yaml) under the same offline mocks as `lifeboat plan`, from
// the built dist/, and prints the job table and the environment variable names of each scheduler
// container it declares, as JSON: [{"container", "table", "env": [NAME…]}]. bench/scheduler-
// footprint.mjs runs exactly these tables. (The plan itself shows the verify side's uploads as
// "[secret]", because the age identity is uploaded beside the table.)
//
//   node bench/lib/prod-job-tables.cjs [STACK]
const path = require("node:path");

const REPO = path.resolve(__dirname, "../..");
const pulumi = require(path.join(REPO, "node_modules/@pulumi/pulumi"));
const { readStackFile } = require(path.join(REPO, "dist/cli/plan/stackFile.js"));
const { awsRegions, mockCall, mockOutputs } = require(path.join(REPO, "dist/cli/plan/mocks.js"));

const JOBS_FILE = "/etc/lifeboat/jobs.json";
const unwrap = (v) => (v && typeof v === "object" && v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig ? v.value : v);

async function main() {
  const stack = process.argv[2] ?? "prod";
  const sf = readStackFile({ projectDir: REPO, stack });
  pulumi.runtime.setAllConfig(sf.config, sf.secretKeys);
  const regions = awsRegions("us-east-1");
  const containers = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        regions.observe(args);
        if (args.type === "docker:index/container:Container") containers.push({ name: args.name, inputs: args.inputs });
        return mockOutputs(args, regions.regionOf);
      },
      call: mockCall,
    },
    "lifeboat",
    stack,
    false,
  );
  const { DisasterRecovery, loadStackConfig } = require(path.join(REPO, "dist/components"));
  const config = loadStackConfig();
  new DisasterRecovery(`lifeboat-${config.environment}`, { config });
  await pulumi.runtime.waitForRPCs();
  const schedulers = containers
    .filter((c) => c.inputs.command?.[0] === "schedule")
    .map((c) => ({
      container: c.name,
      table: JSON.parse(unwrap(c.inputs.uploads).find((u) => u.file === JOBS_FILE).content),
      env: unwrap(c.inputs.envs).map((e) => e.slice(0, e.indexOf("="))),
    }));
  process.stdout.write(JSON.stringify({ stack, containers: containers.map((c) => c.name), schedulers }) + "\n");
}

main().catch((e) => {
  process.stderr.write(`prod-job-tables: ${e.stack || e}\n`);
  process.exit(1);
});
