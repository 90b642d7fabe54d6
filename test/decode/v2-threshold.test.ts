import { describe, expect, it } from 'vitest';
import { selectIndices, thresholdRule } from '../../src/ir/select-rule.ts';
import type { ResolvedOptions } from '../../src/decode/options.ts';
import { v2Rule } from '../../src/decode/v2-options.ts';

/** Only the fields v2Rule reads (the f32 rule as resolveV2Options makes it). */
const opts = (threshold: number) => ({ threshold, rule: thresholdRule(threshold, 'f32', '>') }) as ResolvedOptions;
/** Whether a candidate of confidence c is accepted beside a more confident one (so not as the argmax). */
const accepts = (c: number, threshold: number, dtype: 'f32' | 'bf16') => selectIndices(v2Rule(opts(threshold), dtype), [1, c]).includes(1);

describe('v2\'s threshold comparison (REFERENCE-V2.md 3c), through the one selection rule', () => {
  it('in bf16, tau 0.901 rounds to 0.90234375, so a p of 0.90234375 is not above it', () => {
    expect(v2Rule(opts(0.901), 'bf16')).toMatchObject({ mode: 'threshold', threshold: 0.90234375, comparison: '>' });
    expect(accepts(0.90234375, 0.901, 'bf16')).toBe(false);
    // The next bf16 value up is.
    expect(accepts(0.90625, 0.901, 'bf16')).toBe(true);
  });

  it('in f32 the same p is above 0.901, and the comparison stays strict', () => {
    expect(accepts(0.90234375, 0.901, 'f32')).toBe(true);
    expect(accepts(Math.fround(0.901), 0.901, 'f32')).toBe(false);
    expect(accepts(1, 1, 'f32')).toBe(false);
    expect(accepts(1, 1, 'bf16')).toBe(false);
    // v1's rule on the same numbers takes the tie: the comparison is the only difference.
    expect(selectIndices(thresholdRule(0.901, 'f32'), [1, Math.fround(0.901)])).toEqual([0, 1]);
  });

  it('the most confident mask is always taken, the first of equals', () => {
    expect(selectIndices(v2Rule(opts(0.9), 'f32'), [0.2, 0.5, 0.5])).toEqual([1]);
    expect(selectIndices(v2Rule(opts(1), 'bf16'), [0.3, 1, 1])).toEqual([1]);
  });
});
