import { Readable } from "node:stream";
import { Proc, startProc } from "../proc";
import { kernelTeeUnsupported, TEE_SCRIPT } from "../kernelTee";
import { FifoDir } from "../fifoDir";
import { ArchiveFormatError, ArchiveRowCounter, ArchiveTableRows, countingError, CustomArchiveRowCounter, withBufferedStdout } from "./pgArchiveCounter";
import { FifoRaw } from "./types";

/** A running `pg_dump -Fc`: its archive for the encoder, and the row counts read from it on the way. */
export interface DumpStream {
  raw: Readable | FifoRaw;
  procs: Proc[];
  /** Row count of every table the archive holds data for; once the archive was read to its end. */
  tables(): ArchiveTableRows[];
  /** `pg_dump --version`'s line for the manifest, from the archive's header (no process to ask); once the archive was read. */
  toolVersion(): string;
  /** Always called, success or not. */
  dispose(): void;
}

/**
 * Starts pg_dump (`args` after the command name) with its stdout in 1 MiB blocks.
 *
 * Where the kernel tee works (kernelTee.ts): `pg_dump | tee | zstd` through pipes, node counting
 * the rows in the tee's copy in 1 MiB reads into one buffer; the encoder's zstd opens the raw
 * FIFO. Elsewhere: node reads pg_dump's output, counts, and passes it on (ArchiveRowCounter).
 */
export function startDump(args: string[], opts: { env: NodeJS.ProcessEnv; scrubber: (s: string) => string }): DumpStream {
  const [cmd, argv] = withBufferedStdout("pg_dump", args);
  const fifos = kernelTeeUnsupported() === undefined ? FifoDir.orNone(["dump", "copy", "raw"]) : undefined;
  if (!fifos) {
    const dump = startProc("pg_dump", cmd, argv, { ...opts, stdinIgnore: true });
    const rows = new ArchiveRowCounter(dump.done);
    dump.child.stdout!.pipe(rows);
    return { raw: rows, procs: [dump], tables: () => rows.tables(), toolVersion: () => versionLine(rows.dumpVersion), dispose: () => undefined };
  }
  const dump = startProc("pg_dump", cmd, argv, { ...opts, stdinIgnore: true, redirect: { stdout: fifos.path("dump") } });
  const tee = startProc("kernel tee", "perl", ["-e", TEE_SCRIPT], { stdinIgnore: true, redirect: { stdin: fifos.path("dump"), stdout: fifos.path("raw"), fd3: fifos.path("copy") } });
  const counter = new CustomArchiveRowCounter();
  const checked = fifos
    .drain("copy", (chunk) => counter.write(chunk, true))
    .then(async () => {
      // An archive cut short because pg_dump failed is pg_dump's error, which says why.
      await dump.done;
      counter.end(); // throws if the archive is incomplete

    })
    .catch((e: unknown) => {
      throw e instanceof ArchiveFormatError ? countingError(e) : e;
    });
  checked.catch(() => undefined); // reported by the encoder, which may attach after it failed
  return {
    raw: { fifo: fifos.path("raw"), counted: counter, done: checked, release: () => fifos.dispose() },
    procs: [dump, tee],
    tables: () => counter.end(),
    toolVersion: () => versionLine(counter.dumpVersion),
    dispose: () => fifos.dispose(),
  };
}

/** What `pg_dump --version` prints for the pg_dump whose archive header says `version`. */
function versionLine(version: string | undefined): string {
  if (!version) throw new ArchiveFormatError("the archive's header names no pg_dump version");
  return `pg_dump (PostgreSQL) ${version}`;
}
