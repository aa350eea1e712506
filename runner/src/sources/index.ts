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
  }
}
