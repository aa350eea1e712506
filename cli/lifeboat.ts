import * as path from "path";
import { Command, Option } from "commander";
import { ConfigError } from "../components/config/errors";
import { rawStackConfig } from "../components/config/stackConfig";
import { objectiveRows, renderObjectives } from "../components/config/objectives";
import { validateStackConfig } from "../components/config/validate";
import { evaluatePolicies } from "../policies/evaluate";
import { planReport, renderTree } from "./plan/render";
import { runPlan } from "./plan/runPlan";
import { findProjectDir, readStackFile, StackFileError } from "./plan/stackFile";

/** Exit codes the README and CI rely on. */
const EXIT = { clean: 0, violations: 1, invalidConfig: 2 } as const;

const program = new Command("lifeboat")
  .description("Lifeboat: backup and disaster-recovery infrastructure as code.")
  .showHelpAfterError();

program
  .command("plan")
  .description(
    "Evaluate the Lifeboat program for one stack with Pulumi mocks: offline, no credentials, no Pulumi CLI.\n" +
      "Prints the resource tree and policy violations. Exit 0 clean, 1 mandatory violations, 2 invalid config.\n" +
      "Set LIFEBOAT_DEBUG=1 for full stack traces when diagnosing a crash (plan trims them for speed).",
  )
  .addOption(new Option("-s, --stack <name>", "stack whose Pulumi.<name>.yaml to read"))
  .addOption(new Option("-c, --config <file>", "read this stack file instead (the stack name comes from its file name unless --stack is given)"))
  .option("--json", "print {stack, resources, outputs, violations} as JSON; secret values are \"[secret]\"")
  .option("--runbook", "print this environment's generated runbook (markdown) instead of the tree")
  .option("--cwd <dir>", "project directory (where Pulumi.yaml is)", process.cwd())
  .action(async (opts: { stack?: string; config?: string; json?: boolean; runbook?: boolean; cwd: string }) => {
    if (!opts.stack && !opts.config) {
      process.stderr.write("lifeboat plan: give --stack NAME or --config FILE\n");
      process.exit(EXIT.invalidConfig);
    }
    try {
      const projectDir = findProjectDir(opts.cwd);
      const stackFile = readStackFile({
        projectDir,
        ...(opts.stack ? { stack: opts.stack } : {}),
        ...(opts.config ? { file: path.resolve(opts.cwd, opts.config) } : {}),
      });
      // The program validates the same config; validating here first gives the policy settings
      // (and, on bad config, the same exit-2 message before anything runs).
      const config = validateStackConfig(rawStackConfig(stackFile.config), stackFile.stack);
      const policy = config.policy;
      const run = await runPlan(path.join(__dirname, "..", "index.js"), stackFile);
      const violations = evaluatePolicies(run.resources, {
        enforcement: policy.enforcement,
        minimums: policy.minimums,
        ...(stackFile.config["aws:region"] ? { defaultAwsRegion: stackFile.config["aws:region"] } : {}),
      });
      const report = planReport(run, violations);
      const text = opts.runbook
        ? String(report.outputs.runbook ?? "")
        : opts.json ? JSON.stringify(report, null, 2) : `${renderTree(report, run)}\n\n${renderObjectives(objectiveRows(config))}`;
      process.stdout.write(text + "\n");
      process.exit(report.violations.some((v) => v.level === "mandatory") ? EXIT.violations : EXIT.clean);
    } catch (e) {
      if (ConfigError.is(e) || e instanceof StackFileError) {
        process.stderr.write(`lifeboat plan: ${(e as Error).message}\n`);
        process.exit(EXIT.invalidConfig);
      }
      throw e;
    }
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`lifeboat: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(3);
});
