import { env, debugLog } from '../env.ts';
import type { DecodeEvent } from './session.ts';

/**
 * One line of the FASTDLLM_DEBUG=6 decode trace: the step's kind, block and nfe, then per batch
 * row the canvas positions it unmasked (relative to the generated region) and their tokens.
 */
function formatStepTrace(ev: Extract<DecodeEvent, { type: 'step' }>): string {
  const rows = ev.rows.map((r) => `row ${r.row} positions [${r.positions.join(',')}] tokens [${r.tokens.join(',')}]`);
  return `decode step nfe=${ev.nfe} kind=${ev.kind} block=${ev.block} ${(ev.ms).toFixed(2)} ms: ${rows.length ? rows.join('; ') : 'nothing chosen'}`;
}

/** Prints a step event's trace line to stderr when FASTDLLM_DEBUG >= 6 (one line per forward). */
export function traceDecodeEvent(ev: DecodeEvent): void {
  if (env.debug >= 6 && ev.type === 'step') debugLog(6, formatStepTrace(ev));
}
