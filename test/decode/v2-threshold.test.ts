import { describe, expect, it } from 'vitest';
import { thresholdRule } from '../../src/ir/select-rule.ts';
import type { ResolvedOptions } from '../../src/decode/options.ts';
import { v2Accepts } from '../../src/decode/v2-options.ts';

/** Only the fields v2Accepts reads. */
const opts = (threshold: number) => ({ threshold, rule: thresholdRule(threshold, 'f32') }) as ResolvedOptions;

describe('v2\'s threshold comparison (REFERENCE-V2.md 3c)', () => {
  it('in bf16, tau 0.901 rounds to 0.90234375, so a p of 0.90234375 is not above it', () => {
    expect(v2Accepts(0.90234375, opts(0.901), 'bf16')).toBe(false);
    // The next bf16 value up is.
    expect(v2Accepts(0.90625, opts(0.901), 'bf16')).toBe(true);
    // p is rounded too: 0.9025 is 0.90234375 in bf16, not above.
    expect(v2Accepts(0.9025, opts(0.901), 'bf16')).toBe(false);
  });

  it('in f32 the same p is above 0.901, and the comparison stays strict', () => {
    expect(v2Accepts(0.90234375, opts(0.901), 'f32')).toBe(true);
    expect(v2Accepts(Math.fround(0.901), opts(0.901), 'f32')).toBe(false);
    expect(v2Accepts(1, opts(1), 'f32')).toBe(false);
    expect(v2Accepts(1, opts(1), 'bf16')).toBe(false);
  });
});
