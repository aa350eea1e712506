export { renderRunbook } from "./render";
export { runbookInputFromConfig } from "./fromConfig";
export type { ResolvedBucket } from "./fromConfig";
export type { RunbookInput, RunbookBucket, RunbookSource } from "./input";
export { STOCK_FETCH, STOCK_DECODE, STOCK_ONE_FILE, STOCK_ONE_TABLE, STOCK_PITR_SCRIPT, STOCK_RESTORE_SCRIPT, stockRestoreScript } from "./stockTools";
export { shellQuote, shellJoin } from "./shell";
