/**
 * The kinds of source `lifeboat-runner backup --source` takes, defined once: stack config
 * validates against them, the components build command lines for them, and the runner's CLI
 * offers them as choices.
 */
export const SOURCE_KINDS = ["postgres", "volume", "directory", "redis", "sqlite", "bucket"] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** What each kind stores, after zstd and age: the object key's extension. */
export const EXTENSIONS: Record<SourceKind, string> = {
  postgres: "dump.zst.age",
  volume: "tar.zst.age",
  directory: "tar.zst.age",
  redis: "rdb.zst.age",
  sqlite: "sqlite.zst.age",
  /** Not a tier object: a bucket source stores one `.age` per app object and a snapshot manifest (runner/src/bucket/layout.ts). */
  bucket: "age",
};
