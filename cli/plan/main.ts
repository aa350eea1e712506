import * as fs from "fs";
import * as path from "path";
import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../../components/config/errors";
import { objectiveRows, renderObjectives } from "../../components/config/objectives";
import { lifeboatProgram } from "../../components/program";
import { evaluatePolicies } from "../../policies/evaluate";
import { markInventedNames, planReport, renderTree } from "./render";
import { runPlan } from "./runPlan";
import { findProjectDir, readStackFile, StackFileError, validateStackFile } from "./stackFile";

/** Exit codes the README and CI rely on: usage errors share 2 with invalid config, never 1 (violations). */
export const EXIT = { clean: 0, violations: 1, invalidConfig: 2, usage: 2, crash: 3 } as const;

/** Where the CLI writes; the process's streams, or buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** The version in the package.json above this module (the repo's, or the installed package's). */
export function packageVersion(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "lifeboat" && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) throw new Error(`no lifeboat package.json above ${from}`);
  }
}

interface PlanOptions { stack?: string; config?: string; json?: boolean; runbook?: boolean; cwd: string }

/**
 * Runs `lifeboat ARGV` and resolves with the exit code; never calls `process.exit`, so the
 * caller lets stdout drain (a pipe to `jq` gets the whole document) and tests can run it
 * in-process. `argv` is as in `process.argv` (node, script, args...).
 */
export async function lifeboatCli(argv: string[], io: CliIo): Promise<number> {
  let code: number = EXIT.clean;
  const program = new Command("lifeboat")
    .description("Lifeboat: backup and disaster-recovery infrastructure as code.")
    .version(packageVersion(), "-V, --version", "print the lifeboat version")
    // Commander exits 1 on a usage error; 1 means policy violations here, so errors are thrown and mapped to 2.
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();

  program
    .command("plan")
    .description(
      "Evaluate the Lifeboat program for one stack with Pulumi mocks: offline, no credentials, no Pulumi CLI.\n" +
        "Prints the resource tree and policy violations. Exit 0 clean, 1 mandatory violations,\n" +
        "2 invalid config or usage (unknown option, missing --stack/--config).\n" +
        "Set LIFEBOAT_DEBUG=1 for full stack traces when diagnosing a crash (plan trims them for speed).",
    )
    .addOption(new Option("-s, --stack <name>", "stack whose Pulumi.<name>.yaml to read"))
    .addOption(new Option("-c, --config <file>", "read this stack file instead (the stack name comes from its file name unless --stack is given)"))
    .option("--json", "print {stack, resources, outputs, violations} as JSON; secret values are \"[secret]\"")
    .option("--runbook", "print this environment's generated runbook (markdown) instead of the tree")
    .option("--cwd <dir>", "project directory (where Pulumi.yaml is)", process.cwd())
    .action(async (opts: PlanOptions) => {
      code = await plan(opts, io);
    });

  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    // --help and --version arrive here with exit code 0; everything else commander throws is a usage error.
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.clean : EXIT.usage;
    io.err(`lifeboat: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    return EXIT.crash;
  }
}

async function plan(opts: PlanOptions, io: CliIo): Promise<number> {
  if (!opts.stack && !opts.config) {
    io.err("lifeboat plan: give --stack NAME or --config FILE (see lifeboat plan --help)\n");
    return EXIT.usage;
  }
  try {
    const projectDir = findProjectDir(opts.cwd);
    const stackFile = readStackFile({
      projectDir,
      ...(opts.stack ? { stack: opts.stack } : {}),
      ...(opts.config ? { file: path.resolve(opts.cwd, opts.config) } : {}),
    });
    // The program validates the same config; validating here first gives the policy settings
    // (and, on bad config, the same exit-2 message before anything runs), and finds a credential
    // written in clear beside a secure value in the same key, which the program cannot.
    const config = validateStackFile(stackFile);
    const policy = config.policy;
    const run = await runPlan(lifeboatProgram, stackFile);
    const violations = evaluatePolicies(run.resources, {
      enforcement: policy.enforcement,
      minimums: policy.minimums,
      ...(stackFile.config["aws:region"] ? { defaultAwsRegion: stackFile.config["aws:region"] } : {}),
    });
    const report = planReport(run, violations);
    if (typeof report.outputs.runbook === "string") report.outputs.runbook = markInventedNames(report.outputs.runbook, run.invented);
    const text = opts.runbook
      ? String(report.outputs.runbook ?? "")
      : opts.json ? JSON.stringify(report, null, 2) : `${renderTree(report, run)}\n\n${renderObjectives(objectiveRows(config))}`;
    io.out(text + "\n");
    return report.violations.some((v) => v.level === "mandatory") ? EXIT.violations : EXIT.clean;
  } catch (e) {
    if (ConfigError.is(e) || e instanceof StackFileError) {
      io.err(`lifeboat plan: ${(e as Error).message}\n`);
      return EXIT.invalidConfig;
    }
    throw e;
  }
}
