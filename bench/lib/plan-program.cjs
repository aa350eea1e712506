// Runs a Pulumi program file under the same offline mocks as `lifeboat plan` (the built
// dist/cli/plan/runPlan.js), then the policy pack over what it declared, and prints
// {"resources": N, "violations": M} on stdout. Used by bench/run.mjs to time programs that
// declare several environments in one program (which `lifeboat plan` cannot express: it runs
// the repo's index.ts for one stack).
//
//   node bench/lib/plan-program.cjs PROGRAM.js [STACK]
const path = require("node:path");

const REPO = path.resolve(__dirname, "../..");
const { runPlan } = require(path.join(REPO, "dist/cli/plan/runPlan.js"));
const { evaluatePolicies } = require(path.join(REPO, "dist/policies/evaluate.js"));

async function main() {
  const program = process.argv[2];
  if (!program) throw new Error("usage: plan-program.cjs PROGRAM.js [STACK]");
  const stack = process.argv[3] ?? "bench";
  // runPlan takes the program as a function: requiring the file declares its resources.
  const file = path.resolve(program);
  const run = await runPlan(() => require(file), { stack, config: {}, secretKeys: [] });
  const violations = evaluatePolicies(run.resources, { enforcement: "advisory" });
  process.stdout.write(JSON.stringify({ resources: run.resources.length, violations: violations.length }) + "\n");
}

main().catch((e) => {
  process.stderr.write(`plan-program: ${e.stack || e}\n`);
  process.exit(1);
});
