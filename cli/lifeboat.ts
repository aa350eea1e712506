import { EXIT, lifeboatCli } from "./plan/main";

// An error the program throws under plan reaches the CLI (which reports it and picks the exit
// code) and, a second time, as a promise the Pulumi runtime left rejected; that copy must not
// turn a reported config error into a crash. One that the CLI did not report fails a clean run.
const unhandled: unknown[] = [];
process.on("unhandledRejection", (reason) => void unhandled.push(reason));

lifeboatCli(process.argv, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  if (code === EXIT.clean && unhandled.length > 0) {
    for (const e of unhandled) process.stderr.write(`lifeboat: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    code = EXIT.crash;
  }
  // Exit once stdout and stderr have drained (their write callbacks run in order), so
  // `lifeboat plan --json | jq` reads the whole document however slow the reader is.
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
});
