import { Logger } from "pino";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * A live line on a terminal (`\r`-rewritten on stderr: bytes, rate, elapsed), or a JSON log
 * line every `intervalMs` when stderr is not a terminal.
 */
export class Progress {
  private readonly start = Date.now();
  private bytes = 0;
  private stored = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly log: Logger,
    opts: { tty?: boolean; intervalMs?: number; quiet?: boolean } = {},
  ) {
    this.tty = opts.tty ?? Boolean(process.stderr.isTTY);
    if (opts.quiet) return;
    this.timer = setInterval(() => this.tick(), this.tty ? 500 : (opts.intervalMs ?? 10000));
    this.timer.unref();
  }

  update(rawBytes: number): void {
    this.bytes = rawBytes;
  }

  updateStored(storedBytes: number): void {
    this.stored = storedBytes;
  }

  private line(): string {
    const secs = (Date.now() - this.start) / 1000;
    const rate = secs > 0 ? this.bytes / secs : 0;
    return `${this.label}: ${formatBytes(this.bytes)} read, ${formatBytes(this.stored)} stored, ${formatBytes(rate)}/s, ${secs.toFixed(0)}s`;
  }

  private tick(): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${this.line()}`);
    else {
      const secs = (Date.now() - this.start) / 1000;
      this.log.info({ progress: { rawBytes: this.bytes, storedBytes: this.stored, elapsedSeconds: Math.round(secs) } }, this.line());
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) process.stderr.write(`\r\x1b[K`);
  }
}
