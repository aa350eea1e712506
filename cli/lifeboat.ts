import { lifeboatCli } from "./plan/main";

// The exit code is set, never forced with process.exit: the process ends once stdout has
// drained, so `lifeboat plan --json | jq` reads the whole document however slow the reader.
lifeboatCli(process.argv, {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}).then((code) => {
  process.exitCode = code;
});
