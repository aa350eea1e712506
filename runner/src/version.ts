/** The runner's version (its package.json), without loading any command module. */
export const RUNNER_VERSION: string = (() => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require("../package.json").version as string;
  } catch {
    return "unknown";
  }
})();
