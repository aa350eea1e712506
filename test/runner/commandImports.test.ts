/**
 * Commands do not import other commands (issue #19): what two commands share (a base backup run,
 * the health evaluation) lives in a module of its own, so loading one command never loads another
 * and a command's file can change without reaching into a second command.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const COMMANDS = resolve(__dirname, "../../runner/src/commands");

/** Every module a file names: static imports and re-exports, require() and import(). */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const re of [/\bfrom\s+"([^"]+)"/g, /\brequire\(\s*"([^"]+)"\s*\)/g, /\bimport\(\s*"([^"]+)"\s*\)/g]) {
    for (const m of text.matchAll(re)) out.push(m[1]);
  }
  return out;
}

test("no file in runner/src/commands imports another file there", () => {
  const files = readdirSync(COMMANDS).filter((f) => f.endsWith(".ts"));
  expect(files.length).toBeGreaterThan(5);
  const crossings: string[] = [];
  for (const f of files) {
    const path = join(COMMANDS, f);
    for (const s of specifiers(readFileSync(path, "utf8"))) {
      if (!s.startsWith(".")) continue;
      if (dirname(resolve(COMMANDS, s)) === COMMANDS) crossings.push(`${f} -> ${relative(COMMANDS, resolve(COMMANDS, s))}`);
    }
  }
  expect(crossings).toEqual([]);
});

test("the check sees an import between commands", () => {
  expect(specifiers('import { x } from "./basebackup";\nexport { y } from "../pitr/a";\nconst z = require("./status");')).toEqual(["./basebackup", "../pitr/a", "./status"]);
});
