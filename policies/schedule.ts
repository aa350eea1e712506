/**
 * `lifeboat-schedule-meets-rpo`: a source is backed up at least as often as its declared RPO
 * (the most data, in time, the team accepts to lose). The longest gap between two runs of a
 * cron schedule comes from `worstCaseIntervalSeconds` in lifeboat-core, the same function the
 * stack config validation uses.
 *
 * Judged, each on its own inputs:
 * - `lifeboat:index:ScheduledBackup` components: `schedule` (5-field cron, UTC) against `rpo`
 *   (for a source with `pitr: true`, its `walFlushInterval`, default 60s, instead of the
 *   base-backup schedule)
 *   (a duration such as `1h`) or `rpoSeconds` (a number). The source's name for messages is
 *   `sourceName` (what Lifeboat's component registers) or `source` (a string, or an object with
 *   `name`), else the resource name. Without an RPO the
 *   component is not judged.
 * - raw `aws:scheduler/schedule:Schedule` resources: `scheduleExpression` (`cron(…)` with six
 *   EventBridge fields, or `rate(…)`), and `state: "DISABLED"` (never runs), against the RPO of
 *   their parent `ScheduledBackup` when it is in the resource list (plan), else against the
 *   `rpo` setting for schedules whose name contains "backup" (verification and status jobs
 *   have their own cadence).
 */
import { humanDuration, parseDuration, worstCaseIntervalSeconds } from "lifeboat-core";
import { Finding, knownString, LifeboatPolicy, obj, PolicyResourceInput, PolicySettings, T } from "./model";

export interface Rpo {
  seconds: number;
  /** For messages, in the one human format (a declared `24h` reads `1d`). */
  text: string;
}

/** A declared RPO, shown in the one human format (`24h` reads as `1d`, like the schedule's gaps). */
function rpoFromText(text: string): Rpo {
  const seconds = parseDuration(text);
  return { seconds, text: humanDuration(seconds) };
}

/** The RPO a ScheduledBackup declares; undefined when none or unknown. */
export function rpoOf(r: PolicyResourceInput): Rpo | undefined {
  const text = knownString(r.inputs.rpo);
  if (text) {
    try {
      return rpoFromText(text);
    } catch {
      /* fall through to rpoSeconds */
    }
  }
  const s = r.inputs.rpoSeconds;
  return typeof s === "number" && s > 0 ? { seconds: s, text: humanDuration(s) } : undefined;
}

export function sourceName(r: PolicyResourceInput): string {
  return knownString(r.inputs.sourceName) ?? knownString(r.inputs.source) ?? knownString(obj(r.inputs.source).name) ?? r.name;
}

const RATE_UNITS: Record<string, number> = { minute: 60, hour: 3600, day: 86400 };

/**
 * EventBridge Scheduler expression → longest gap in seconds. `cron(min hour dom month dow year)`
 * is turned into the standard five fields (day of week 1-7 with SUN=1 becomes 0-6; `?` is `*`);
 * a `year` other than `*` is not supported. Throws a RangeError when it cannot be evaluated.
 */
export function eventBridgeIntervalSeconds(expression: string): number {
  const rate = /^rate\(\s*(\d+)\s+(minute|hour|day)s?\s*\)$/i.exec(expression.trim());
  if (rate) return Number(rate[1]) * RATE_UNITS[rate[2]!.toLowerCase()]!;
  const cron = /^cron\((.*)\)$/i.exec(expression.trim());
  if (!cron) throw new RangeError(`${JSON.stringify(expression)} is not a recurring cron(…) or rate(…) expression`);
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6) throw new RangeError(`${JSON.stringify(expression)} does not have six fields`);
  const [min, hour, dom, month, dow, year] = fields as [string, string, string, string, string, string];
  if (year !== "*") throw new RangeError(`${JSON.stringify(expression)} is limited to some years`);
  const day = (d: string) => d.replace(/\b([1-7])\b/g, (n) => String(Number(n) - 1));
  const weekday = dow === "?" ? "*" : dow.replace(/^([^#/]+)(#\d)?$/, (_m, days: string, nth?: string) => day(days) + (nth ?? ""));
  return worstCaseIntervalSeconds([min, hour, dom === "?" ? "*" : dom, month, weekday].join(" "));
}

export function checkSchedules(resources: PolicyResourceInput[], settings: PolicySettings): Finding[] {
  const findings: Finding[] = [];
  const tooSlow = (what: string, interval: number, schedule: string, rpo: Rpo, resource: string) =>
    findings.push({
      resource,
      message: `${what} runs up to ${humanDuration(interval)} apart (${JSON.stringify(schedule)}), longer than its RPO of ${rpo.text}: back up more often or raise the RPO`,
    });

  const components = resources.filter((r) => r.type === T.scheduledBackup);
  for (const r of components) {
    const rpo = rpoOf(r);
    if (rpo === undefined) continue;
    if (r.inputs.pitr === true) {
      // With WAL streaming the recovery point is the WAL flush interval, not the base-backup schedule.
      const flush = knownString(r.inputs.walFlushInterval) ?? "60s";
      const seconds = parseDuration(flush);
      if (seconds > rpo.seconds) {
        findings.push({
          resource: r.name,
          message: `WAL streaming of ${sourceName(r)} flushes every ${flush}, longer than its RPO of ${rpo.text}: shorten walFlushInterval or raise the RPO`,
        });
      }
      continue;
    }
    const schedule = knownString(r.inputs.schedule);
    if (!schedule) continue;
    let interval: number;
    try {
      interval = worstCaseIntervalSeconds(schedule);
    } catch (e) {
      findings.push({ resource: r.name, message: `scheduled backup of ${sourceName(r)}: schedule ${(e as Error).message}` });
      continue;
    }
    if (interval > rpo.seconds) tooSlow(`scheduled backup of ${sourceName(r)}`, interval, schedule, rpo, r.name);
  }

  const settingRpo: Rpo | undefined = settings.rpo ? rpoFromText(settings.rpo) : undefined;
  for (const s of resources.filter((r) => r.type === T.schedule)) {
    const parent = components.find((c) => c.name === s.parent && s.parentType === T.scheduledBackup);
    const rpo = parent ? rpoOf(parent) : /backup/i.test(s.name) ? settingRpo : undefined;
    if (rpo === undefined) continue;
    const what = `schedule ${s.name}`;
    if (s.inputs.state === "DISABLED") {
      findings.push({ resource: s.name, message: `${what} is disabled: its source gets no backups at all` });
      continue;
    }
    const expression = knownString(s.inputs.scheduleExpression);
    if (!expression) continue;
    let interval: number;
    try {
      interval = eventBridgeIntervalSeconds(expression);
    } catch (e) {
      findings.push({ resource: s.name, message: `${what} cannot be checked against its RPO: ${(e as Error).message}` });
      continue;
    }
    if (interval > rpo.seconds) tooSlow(what, interval, expression, rpo, s.name);
  }
  return findings;
}

export const schedulePolicy: LifeboatPolicy = {
  name: "lifeboat-schedule-meets-rpo",
  description: "Each source's backup schedule runs at least as often as its declared RPO.",
  scope: "resource",
  check: checkSchedules,
};
