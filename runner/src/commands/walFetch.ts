import { resolve } from "node:path";
import { makeStore } from "../context";
import { errorMessage } from "../errors";
import { redactUrl } from "../redact";
import { ensurePrefetcher, FETCH_FATAL, prefetchLoop, readFetchConfig, walFetch } from "../pitr/walFetch";

export interface WalFetchOpts {
  dir?: string;
  prefetch?: boolean;
}

/**
 * `wal-fetch --dir DIR FILE PATH`: PostgreSQL's restore_command during a point-in-time restore
 * (written by `restore`, see pitr/walFetch.ts). `--prefetch` is its own background half (the prefetcher).
 * Every failure is fatal to recovery ({@link FETCH_FATAL}) and named on stderr (the server log).
 */
export async function walFetchCommand(args: string[], o: WalFetchOpts): Promise<number> {
  const say = (line: string) => process.stderr.write(line + "\n");
  try {
    if (!o.dir) throw new Error("--dir is required (the lifeboat_restore directory restore wrote)");
    const dir = resolve(o.dir);
    const cfg = await readFetchConfig(dir);
    // The store's credentials come from the restore's 0600 config, never from argv.
    for (const [k, v] of Object.entries(cfg.env)) process.env[k] = v;
    const store = makeStore({ ...cfg.store, partSize: "16", concurrency: "1" });
    if (o.prefetch) {
      await prefetchLoop(dir, cfg, { store, log: say });
      return 0;
    }
    const [file, dest] = args;
    if (!file || !dest) throw new Error("usage: wal-fetch --dir DIR FILE PATH (restore_command's %f and %p)");
    return await walFetch(dir, cfg, file, resolve(dest), { store, log: say, ensurePrefetcher: () => ensurePrefetcher(dir) });
  } catch (e) {
    if (o.prefetch) return 0; // the foreground call reports what the background one could not do
    say(`lifeboat wal-fetch FAILED (recovery stops here; exit ${FETCH_FATAL}): ${redactUrl(errorMessage(e))}`);
    return FETCH_FATAL;
  }
}
