/**
 * The rule by which a decode step chooses tokens (REFERENCE.md section 3; Dream's threshold in
 * section 5), as one value made once from the resolved options and handed to every target: the
 * host's select ops, the sampling paths, Dream's routines, the CUDA step's launch arguments and
 * the emulated device all apply it through applySelectionRule, so the rule is written once.
 * Pure: no I/O.
 */

import { bf16BitsToF32, f32ToBf16Bits } from '../util/half.ts';

/** How a step chooses among its candidates. */
export type SelectMode = 'topk' | 'threshold' | 'factor';

/**
 * select_scatter's `mode` argument, by mode. The one table of these numbers: the CUDA codegen
 * prepends them to every module as `#define FD_SELECT_TOPK 0` ... (codegen/cuda/template-constants.ts),
 * and templates/fd_decode.cuh reads only those names.
 */
export const SELECT_MODES: Readonly<Record<SelectMode, number>> = { topk: 0, threshold: 1, factor: 2 };

/**
 * Equal confidences rank the lower head-row index first (a stable descending sort), in every
 * mode and on every target. The reference leaves ties to torch.topk; its vectors avoid them.
 */
export type TieRule = 'lower-index';

/** The k most confident candidates; k comes per row and per step (numTransferTokens, Dream's schedule). */
export interface TopkRule { readonly mode: 'topk'; readonly tie: TieRule }

/** The precision a threshold comparison happens in (the dtype of the probabilities it compares). */
export type RulePrecision = 'f64' | 'f32' | 'bf16';

/**
 * Every candidate whose confidence passes the threshold, plus always the single most confident
 * one. `threshold` is the value the comparison uses, already rounded to `precision` (LLaDA
 * compares in f64, Dream in f32, Fast-dLLM v2 in the probabilities' dtype, so in bf16 on a bf16
 * model: PyTorch rounds the Python scalar to that dtype). `comparison` is '>=' for Fast-dLLM v1
 * and '>' (strict) for v2. Confidences are compared as given: a bf16 rule expects them rounded
 * to bf16 already, as the probabilities they come from are.
 */
export interface ThresholdRule {
  readonly mode: 'threshold';
  readonly threshold: number;
  readonly precision: RulePrecision;
  readonly comparison: '>=' | '>';
  readonly tie: TieRule;
}

/**
 * Fast-dLLM's factor rule in f64: sorted confidences c[0] >= ... >= c[N-1]; thr[0] = -1,
 * thr[n] = 1 - factor / (n + 2); t = the first index with c[t] < thr[t]; select the top t,
 * except that t == N - 1 or no failing index selects all N (the reference's quirk: the last two
 * go together).
 */
export interface FactorRule { readonly mode: 'factor'; readonly factor: number; readonly tie: TieRule }

/** What a decode step decides by: mode, its parameter (with its rounding), tie rule. */
export type SelectionRule = TopkRule | ThresholdRule | FactorRule;

/** The fixed-count rule. */
export function topkRule(): TopkRule {
  return { mode: 'topk', tie: 'lower-index' };
}

/** The threshold rule; the threshold is rounded once, here, to the comparison's precision. */
export function thresholdRule(threshold: number, precision: RulePrecision, comparison: '>=' | '>' = '>='): ThresholdRule {
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`selection rule: threshold must be in (0, 1], got ${threshold}`);
  return { mode: 'threshold', threshold: roundTo(threshold, precision), precision, comparison, tie: 'lower-index' };
}

/** `x` rounded to `precision` (nearest even), as a number. */
function roundTo(x: number, precision: RulePrecision): number {
  if (precision === 'f64') return x;
  return precision === 'f32' ? Math.fround(x) : bf16BitsToF32(f32ToBf16Bits(x));
}

/** The factor rule. */
export function factorRule(factor: number): FactorRule {
  if (!(factor > 0 && Number.isFinite(factor))) throw new RangeError(`selection rule: factor must be > 0, got ${factor}`);
  return { mode: 'factor', factor, tie: 'lower-index' };
}

/**
 * The rule the options name: factor, else threshold (compared in `precision`), else top-k.
 * Both given is refused (the reference would apply the factor rule; the CLI and API refuse it).
 */
export function selectionRule(o: { threshold?: number; factor?: number }, precision: 'f32' | 'f64'): SelectionRule {
  if (o.threshold !== undefined && o.factor !== undefined) throw new RangeError('selection rule: threshold and factor are exclusive: give one');
  if (o.factor !== undefined) return factorRule(o.factor);
  if (o.threshold !== undefined) return thresholdRule(o.threshold, precision);
  return topkRule();
}

/** The rule's one number as a device kernel takes it: the threshold (rounded), the factor, or 0 for top-k. */
export function ruleParam(rule: SelectionRule): number {
  return rule.mode === 'threshold' ? rule.threshold : rule.mode === 'factor' ? rule.factor : 0;
}

/**
 * The rule a device kernel's (mode, param) arguments stand for (the emulated device reads them
 * back). The threshold is taken as given, in f64: for a rule made in f32 it is the rounded value,
 * and comparing f32 confidences with it in f64 decides as the f32 comparison does.
 */
export function ruleOfDeviceArgs(mode: number, param: number): SelectionRule {
  if (mode === SELECT_MODES.topk) return topkRule();
  if (mode === SELECT_MODES.threshold) return { mode: 'threshold', threshold: param, precision: 'f64', comparison: '>=', tie: 'lower-index' };
  if (mode === SELECT_MODES.factor) return factorRule(param);
  throw new RangeError(`selection rule: unknown device mode ${mode} (one of ${JSON.stringify(SELECT_MODES)})`);
}

/** Row offsets conf[o, o + n) in descending confidence, ties to the lower index; -inf entries (non-candidates) left out. */
export function rankDescending(conf: ArrayLike<number>, o: number, n: number): number[] {
  const idx: number[] = [];
  for (let j = 0; j < n; j++) if (conf[o + j] !== -Infinity) idx.push(j);
  return idx.sort((a, b) => conf[o + b] - conf[o + a] || a - b);
}

/**
 * Applies the rule to one row of confidences conf[o, o + n): sets sel[o + j] = 1 for each chosen
 * entry (others are left as they are). Entries equal to -inf are no candidates and are never
 * chosen. `k` is the top-k count (ignored by the other modes). Returns how many were chosen.
 */
export function applySelectionRule(rule: SelectionRule, conf: ArrayLike<number>, o: number, n: number, k: number, sel: Uint8Array): number {
  const order = rankDescending(conf, o, n);
  let chosen: number[];
  if (rule.mode === 'topk') {
    chosen = order.slice(0, Math.max(0, k));
  } else if (rule.mode === 'threshold') {
    const t = rule.threshold;
    chosen = rule.comparison === '>' ? order.filter((j, r) => r === 0 || conf[o + j] > t) : order.filter((j, r) => r === 0 || conf[o + j] >= t);
  } else {
    const N = order.length;
    let t = N;
    for (let r = 0; r < N; r++) {
      const thr = r === 0 ? -1 : 1 - rule.factor / (r + 2);
      if (conf[o + order[r]] < thr) { t = r; break; }
    }
    if (t === N - 1) t = N;
    chosen = order.slice(0, t);
  }
  for (const j of chosen) sel[o + j] = 1;
  return chosen.length;
}

/** The indices of `conf` the rule chooses, ascending (a whole row; -inf entries are no candidates). */
export function selectIndices(rule: SelectionRule, conf: ArrayLike<number>, k = 0): number[] {
  const sel = new Uint8Array(conf.length);
  applySelectionRule(rule, conf, 0, conf.length, k, sel);
  const out: number[] = [];
  sel.forEach((s, i) => { if (s) out.push(i); });
  return out;
}

/** One line naming the rule (logs, inspect). */
export function describeRule(rule: SelectionRule): string {
  if (rule.mode === 'topk') return 'top-k (fixed steps), ties to the lower index';
  if (rule.mode === 'threshold') return `threshold ${rule.comparison} ${rule.threshold} (${rule.precision}) plus the most confident, ties to the lower index`;
  return `factor ${rule.factor}, ties to the lower index`;
}
