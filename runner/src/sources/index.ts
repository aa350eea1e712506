import { OpenSource, SourceOptions } from "./types";
import { openPostgres } from "./postgres";
import { openArchive } from "./archive";
import { openRedis } from "./redis";
import { openSqlite } from "./sqlite";

export type { OpenSource, SourceOptions, SourceFacts } from "./types";

export function openSource(o: SourceOptions): Promise<OpenSource> {
  switch (o.kind) {
    case "postgres":
      return openPostgres(o);
    case "volume":
    case "directory":
      return openArchive(o);
    case "redis":
      return openRedis(o);
    case "sqlite":
      return openSqlite(o);
    case "bucket":
      // Not one stream: backup routes a bucket source to bucket/backup.ts before opening a source.
      throw new Error("a bucket source has no single stream (see runner/src/bucket/backup.ts)");
  }
}
