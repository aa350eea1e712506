import * as pulumi from "@pulumi/pulumi";

/** One problem in the stack config, with the full key (`lifeboat:sources[1].schedule`). */
export interface ConfigIssue {
  key: string;
  message: string;
}

/**
 * Invalid stack configuration. A RunError, so `pulumi preview` prints the message without a
 * stack trace; `lifeboat plan` prints it and exits 2. Thrown before any resource is declared.
 */
export class ConfigError extends pulumi.RunError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      `invalid Lifeboat stack configuration:\n` + issues.map((i) => `  ${i.key}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
    this.issues = issues;
  }
  /** True for a ConfigError, also across copies of this module (built and source). */
  static is(e: unknown): e is ConfigError {
    return e instanceof Error && e.name === "ConfigError" && Array.isArray((e as ConfigError).issues);
  }
}

/** `lifeboat:` + a path such as `sources[1].schedule`. */
export function configKey(path: ReadonlyArray<PropertyKey>): string {
  let out = "lifeboat:";
  path.forEach((p, i) => {
    if (typeof p === "number") out += `[${p}]`;
    else out += (i === 0 ? "" : ".") + String(p);
  });
  return out;
}
