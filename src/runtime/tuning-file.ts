import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Merges tuning results into a tuning file, CPU or GPU: `gemm[key]` the chosen config and
 * `trials[key]` what was timed, over what the file already held (an unreadable file counts as
 * empty), with `header` describing the machine. Written atomically: a temp file, then a rename,
 * so a reader never sees half a file.
 */
export function mergeTuningFile(file: string, header: Record<string, unknown>, entries: { key: string; best: object; trials: unknown }[]): void {
  let prev: { gemm?: Record<string, unknown>; trials?: Record<string, unknown> } = {};
  try {
    prev = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  } catch {
    prev = {};
  }
  const gemm = { ...(prev.gemm ?? {}) }, trials = { ...(prev.trials ?? {}) };
  for (const e of entries) {
    gemm[e.key] = e.best;
    trials[e.key] = e.trials;
  }
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ ...header, updatedAt: new Date().toISOString(), gemm, trials }, null, 1) + '\n');
  renameSync(tmp, file);
}
