import { Readable } from "node:stream";
import { SourceKind } from "lifeboat-core";
import { Proc } from "../proc";
import { Manifest } from "../manifest";

/** Extra manifest fields a source contributes once its stream has ended successfully. */
export type SourceFacts = Pick<Manifest, "postgres" | "archive" | "file" | "warnings">;

/**
 * Raw bytes in a FIFO that the encoder's zstd opens itself (the kernel tee's output), while node
 * reads a copy to check them (kernelTee.ts).
 */
export interface FifoRaw {
  fifo: string;
  /** Bytes of the copy read so far; all of them once `done` resolved. */
  counted: { readonly bytes: number };
  /** Resolves when the copy was read to its end and checked; rejects when the check failed. */
  done: Promise<void>;
  /**
   * Releases node's read of the copy if it still waits to open (its writer was stopped before it
   * opened its end), so `done` settles. The encoder calls it on the pipeline's first failure.
   */
  release(): void;
}

export function isFifoRaw(s: Readable | FifoRaw): s is FifoRaw {
  return typeof (s as FifoRaw).fifo === "string";
}

/** A running source: the raw bytes, the processes producing them, and how to finish. */
export interface OpenSource {
  stream: Readable | FifoRaw;
  procs: Proc[];
  /** Versions of the tools this source uses, for the manifest (a promise while they are probed); called after `stream` ended. */
  tools(): Record<string, string> | Promise<Record<string, string>>;
  /** Called after `stream` ended and every process exited 0. */
  finish(): Promise<SourceFacts>;
  /** Always called, success or not: closes connections and removes snapshots. */
  cleanup(): Promise<void>;
}

export interface SourceOptions {
  kind: SourceKind;
  name: string;
  /** Postgres/Redis connection URL. */
  url?: string;
  /** Directory, volume mount point or SQLite file. */
  path?: string;
  /** Where SQLite snapshots are made (never the backup stream). */
  workDir: string;
  /** Warnings (e.g. tar saw a file change) go here. */
  warn: (text: string) => void;
}
