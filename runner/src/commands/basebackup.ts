/** `basebackup`: one base backup run (pitr/baseBackupRun.ts, which wal-stream also runs on a new timeline). */
export { runBaseBackup as basebackupCommand, parseBasebackupLog } from "../pitr/baseBackupRun";
export type { BasebackupOpts } from "../pitr/baseBackupRun";
