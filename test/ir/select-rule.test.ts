import { describe, expect, it } from 'vitest';
import {
  applySelectionRule, factorRule, rankDescending, ruleOfDeviceArgs, ruleParam, selectIndices, selectionRule, SELECT_MODES, thresholdRule, topkRule,
} from '../../src/ir/select-rule.ts';
import { resolveOptions } from '../../src/decode/options.ts';
import type { DecoderConfig } from '../../src/models/define.ts';

/**
 * The one selection rule (REFERENCE.md section 3, Dream's threshold of section 5) on rows built
 * by hand, so each expectation is read off the row: the tie with the threshold, the f32
 * rounding, the factor rule and its quirk, the tie rule, non-candidates.
 */
const NC = -Infinity; // no candidate

/** The f32 just below a positive f32. */
function below32(x: number): number {
  const b = new Float32Array([x]);
  new Uint32Array(b.buffer)[0] -= 1;
  return b[0];
}

describe('the selection rule', () => {
  it('threshold: a confidence equal to the threshold is chosen (>=); the most confident always is', () => {
    const r = thresholdRule(0.5, 'f64');
    expect(selectIndices(r, [0.9, 0.5, 0.25, 0.5, 0.4999999999999999])).toEqual([0, 1, 3]);
    expect(selectIndices(r, [0.2, 0.3, 0.1])).toEqual([1]); // none reach it: the best alone
    expect(selectIndices(r, [NC, 0.5, NC, 0.7])).toEqual([1, 3]); // -inf rows never
    expect(selectIndices(r, [NC, NC])).toEqual([]);
    expect(selectIndices(thresholdRule(1, 'f64'), [1, 0.9999999999999999, 1])).toEqual([0, 2]);
  });

  it('threshold in f32 (Dream): rounded once when the rule is made; a tie with the rounded value is chosen', () => {
    const t32 = Math.fround(0.9);
    expect(t32).toBeLessThan(0.9);
    const r32 = thresholdRule(0.9, 'f32'), r64 = thresholdRule(0.9, 'f64');
    expect(r32.threshold).toBe(t32);
    expect(ruleParam(r32)).toBe(t32);
    const row = [0.3, t32, 0.95, below32(t32)];
    expect(below32(t32)).toBeLessThan(t32);
    expect(selectIndices(r32, row)).toEqual([1, 2]);
    // In f64 the same row's t32 falls below 0.9.
    expect(selectIndices(r64, row)).toEqual([2]);
  });

  it('factor: the first sorted confidence below 1 - f / (n + 2) ends the selection; equality does not', () => {
    const f1 = factorRule(1);
    // sorted 0.95, 2/3 (= thr[1] exactly: kept), 0.1 (< thr[2] = 0.75: t = 2), 0.05
    expect(selectIndices(f1, [0.1, 1 - 1 / 3, 0.95, 0.05])).toEqual([1, 2]);
    // sorted 0.95, 0.6 (< 2/3: t = 1), 0.5, 0.4
    expect(selectIndices(f1, [0.6, 0.95, 0.5, 0.4])).toEqual([1]);
    // The quirk: t == N - 1 selects all N (the last two go together).
    expect(selectIndices(f1, [0.95, 0.9, 0.1])).toEqual([0, 1, 2]);
    // No index fails: all.
    expect(selectIndices(f1, [0.99, 0.98, 0.97])).toEqual([0, 1, 2]);
    // One candidate: itself (thr[0] = -1); non-candidates drop out of N.
    expect(selectIndices(f1, [NC, 0.01, NC])).toEqual([1]);
    expect(selectIndices(factorRule(2), [0.9, 0.4, 0.3, 0.2])).toEqual([0, 1]); // thr 0.333.., 0.5 -> t = 2
  });

  it('top-k: the k most confident, ties to the lower index; k past N takes all, k <= 0 none', () => {
    const t = topkRule();
    expect(selectIndices(t, [0.5, 0.7, 0.5, 0.5], 2)).toEqual([0, 1]);
    expect(selectIndices(t, [0.5, 0.7, 0.5, 0.5], 3)).toEqual([0, 1, 2]);
    expect(selectIndices(t, [0.2, NC, 0.1], 5)).toEqual([0, 2]);
    expect(selectIndices(t, [0.2, 0.3], 0)).toEqual([]);
    expect(selectIndices(t, [0.2, 0.3], -1)).toEqual([]);
    expect(rankDescending([0.5, 0.7, NC, 0.5, 0.7], 0, 5)).toEqual([1, 4, 0, 3]);
  });

  it('applies to a row at an offset, leaving the rest of the selection as it was', () => {
    const conf = [0.9, 0.1, /* row 1: */ 0.5, 0.6, 0.4];
    const sel = new Uint8Array(5);
    sel[0] = 1;
    expect(applySelectionRule(thresholdRule(0.5, 'f64'), conf, 2, 3, 0, sel)).toBe(2);
    expect(Array.from(sel)).toEqual([1, 0, 1, 1, 0]);
  });

  it('is made once from the options: LLaDA in f64, Dream in f32; both threshold and factor refused', () => {
    expect(selectionRule({}, 'f64')).toEqual(topkRule());
    expect(selectionRule({ factor: 1.5 }, 'f64')).toEqual({ mode: 'factor', factor: 1.5, tie: 'lower-index' });
    expect(() => selectionRule({ threshold: 0.9, factor: 1 }, 'f64')).toThrow(/exclusive/);
    expect(() => thresholdRule(0, 'f64')).toThrow(/threshold must be in \(0, 1\]/);
    expect(() => factorRule(Infinity)).toThrow(/factor must be > 0/);
    const cfg = (logitShift: boolean) => ({ architecture: logitShift ? 'dream' : 'llada', logitShift, vocabSize: 100, maskId: 99, eosId: 98, padId: 97, maxSeqLen: 4096 }) as unknown as DecoderConfig;
    expect(resolveOptions({ genLength: 8, threshold: 0.9 }, cfg(false), [4]).rule).toEqual({ mode: 'threshold', threshold: 0.9, precision: 'f64', comparison: '>=', tie: 'lower-index' });
    expect(resolveOptions({ genLength: 8, threshold: 0.9 }, cfg(true), [4]).rule).toEqual({ mode: 'threshold', threshold: Math.fround(0.9), precision: 'f32', comparison: '>=', tie: 'lower-index' });
    expect(resolveOptions({ genLength: 8 }, cfg(true), [4]).rule.mode).toBe('topk');
  });

  it("a device kernel's (mode, param) arguments stand for the rule they were made from", () => {
    for (const r of [topkRule(), thresholdRule(0.7, 'f64'), factorRule(0.5)]) {
      const back = ruleOfDeviceArgs(SELECT_MODES[r.mode], ruleParam(r));
      expect(back).toEqual(r);
    }
    const back32 = ruleOfDeviceArgs(SELECT_MODES.threshold, ruleParam(thresholdRule(0.9, 'f32')));
    const row = [0.3, Math.fround(0.9), 0.95, below32(Math.fround(0.9))];
    expect(selectIndices(back32, row)).toEqual(selectIndices(thresholdRule(0.9, 'f32'), row));
    expect(() => ruleOfDeviceArgs(7, 0)).toThrow(/unknown device mode 7/);
  });
});
