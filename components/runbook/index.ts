export { renderRunbook, bucketDest, destinationSpec, redactUrl, restoreSpecFor, defaultTarget, stockVarsFor, RUNBOOK_VARIABLES, runbookInputFromConfig } from "./render";
export type { RunbookInput, RunbookBucket, RunbookSource, ResolvedBucket } from "./render";
export { STOCK_FETCH, STOCK_DECODE, STOCK_ONE_FILE, STOCK_ONE_TABLE, STOCK_PITR_SCRIPT, STOCK_RESTORE_SCRIPT, stockPitrScript, stockScriptBody, stockRestoreScript, stockTargetVariable } from "./stockTools";
export type { StockPitrVars, StockRestoreVars } from "./stockTools";
export { shellQuote, shellJoin, shellValue } from "./shell";
export { drTargetIn } from "./targets";
