/**
 * Test-only crash hook for the crash-matrix tests (test/crash/): with
 * PYDEPOT_CRASH_AT=<step> in its environment, the process kills itself with
 * SIGKILL, as a power cut or the OOM killer would, when it reaches that step.
 * Without the variable every call is one string comparison and does nothing.
 *
 * The steps are the few places where a crash could leave storage half
 * written; each call site says why it is there. Imports nothing from src/
 * (a leaf, like errors.ts), so any layer may mark a step.
 */

export type CrashStep =
  /** An upload's temp blob is complete and validated, not yet committed (src/repos/local.ts). */
  | 'upload:temp-complete'
  /** Its blob is committed (renamed into blobs/), its rows are not (src/repos/local.ts). */
  | 'upload:blob-committed'
  /** Its rows and audit entry are committed, the answer not yet sent (src/repos/local.ts). */
  | 'upload:row-committed'
  /** A proxied download has written half of the file to its temp blob (src/upstream/fetch-file.ts). */
  | 'download:half-written'
  /** An upstream page was fetched and parsed, not yet saved (src/repos/index-cache.ts). */
  | 'page:fetched-not-saved'
  /** A schema migration ran its SQL inside its transaction, not yet committed (src/storage/db.ts). */
  | 'migration:inside-step'
  /** A schema migration is committed, the next ones are not (src/storage/db.ts). */
  | 'migration:between-steps';

// Read once at load: the hook costs nothing per call in production.
const CRASH_AT = process.env.PYDEPOT_CRASH_AT ?? '';

export function crashPoint(step: CrashStep): void {
  if (step === CRASH_AT) process.kill(process.pid, 'SIGKILL');
}
