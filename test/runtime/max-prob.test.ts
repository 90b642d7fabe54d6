import { describe, expect, it } from 'vitest';
import { argmaxRow, confidenceRow, softmaxRow } from '../../src/runtime/reference/ops.ts';
import { Rng } from '../../src/io/random.ts';

/** What confidence 'prob' was before its fast path: the whole softmax, then its value at the argmax. */
function viaSoftmax(x: Float32Array, precision: 'f32' | 'f64'): number {
  const p = new Float64Array(x.length);
  softmaxRow(x, 0, x.length, p, precision);
  return p[argmaxRow(x, 0, x.length)];
}

describe("confidence 'prob' without the whole softmax", () => {
  it('equals softmax-then-index bit for bit, f64 and f32, on random rows, ties and non-finite logits', () => {
    const rng = new Rng(7);
    const rows: Float32Array[] = [];
    for (let r = 0; r < 400; r++) {
      const v = 1 + Math.floor(rng.uniform() * 300), scale = [0.1, 3, 30, 300][r % 4];
      rows.push(Float32Array.from({ length: v }, () => (rng.uniform() - 0.5) * scale));
    }
    const tie = Float32Array.from({ length: 64 }, (_, i) => (i % 8 === 3 ? 5 : i / 100));
    rows.push(tie, Float32Array.of(-0, 0), Float32Array.of(1, NaN, 2), Float32Array.of(NaN, 1), Float32Array.of(-Infinity, -Infinity),
      Float32Array.of(Infinity, 1), Float32Array.of(-Infinity, 3, -Infinity), Float32Array.of(88, -88, 87.5), Float32Array.of(3.4e38, -3.4e38));
    let checked = 0;
    for (const x of rows) {
      for (const precision of ['f64', 'f32'] as const) {
        const want = viaSoftmax(x, precision);
        const got = confidenceRow(x, 0, x.length, 'prob', precision, new Float64Array(x.length));
        expect(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `row of ${x.length} (${precision}): ${got} vs ${want}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(2 * rows.length);
  });

  it('reads the row at its offset only', () => {
    const x = Float32Array.of(9, 9, 1, 2, 3, 9);
    expect(confidenceRow(x, 2, 3, 'prob', 'f64', new Float64Array(3))).toBe(viaSoftmax(Float32Array.of(1, 2, 3), 'f64'));
  });
});
