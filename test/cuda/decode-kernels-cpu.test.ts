import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectScatterArgs } from '../../src/codegen/cuda/step-kernels.ts';
import { applySelectionRule, factorRule, thresholdRule, topkRule, type SelectionRule, type SelectMode } from '../../src/ir/select-rule.ts';
import { Rng, SEED } from './gpu-helpers.ts';
import { buildHarness, bytes, runHarness } from './cpu-threads/build.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

/**
 * The decode-step kernels' own CUDA source (templates/fd_decode.cuh) run on CPU threads
 * (cpu-threads/harness.cpp: a thread per CUDA thread, barriers for __syncthreads and the warp
 * exchanges) against the one selection rule (ir/select-rule.ts's applySelectionRule), on random
 * rows: head rows past one CTA's 256 threads, non-candidates anywhere, tied confidences, every
 * mode; and on hand-built rows whose confidences tie with the threshold, with a factor step and
 * with each other. What the GPU run adds is the hardware; the logic is checked here.
 */
const build = () => buildHarness('decode', readFileSync(join(import.meta.dirname, 'cpu-threads', 'harness.cpp'), 'utf8'));

interface Case { B: number; R: number; L: number; rule: SelectionRule; lo: number; hi: number; a: number; T: number; k: Int32Array; cand: Int32Array; x0: Int32Array; conf: Float64Array; canvas: Int32Array }

const MASK = 7;

function randomCase(rng: Rng, mode: SelectMode): Case {
  const int = (n: number) => Math.floor(rng.nextF64() * n);
  const B = 1 + int(3), R = [1, 5, 32, 257, 600][int(5)], P = int(20), L = P + R + int(40);
  const cand = new Int32Array(B * R).fill(-1), x0 = new Int32Array(B * R), conf = new Float64Array(B * R), k = new Int32Array(B);
  const canvas = new Int32Array(B * L).map(() => 10 + int(1000));
  for (let b = 0; b < B; b++) {
    // Candidates: distinct masked positions past the prompt, at random head rows.
    const free = Array.from({ length: L - P }, (_, i) => P + i).sort(() => rng.nextF64() - 0.5);
    let n = 0;
    for (let i = 0; i < R; i++) {
      if (rng.nextF64() < 0.2) continue;
      const p = free[n++];
      cand[b * R + i] = p;
      canvas[b * L + p] = MASK;
    }
    for (let i = 0; i < 5; i++) canvas[b * L + P + int(L - P)] = MASK; // masks that are no candidate
    for (let i = 0; i < R; i++) {
      x0[b * R + i] = 10 + int(5000);
      // A third of the confidences on a coarse grid: ties to break by index.
      conf[b * R + i] = rng.nextF64() < 0.33 ? (1 + int(8)) / 8 : rng.nextF64();
    }
    k[b] = int(n + 2);
  }
  const rule = mode === 'topk' ? topkRule() : mode === 'threshold' ? thresholdRule([0.3, 0.5, 0.9, 1][int(4)], 'f64') : factorRule([0.5, 1, 2][int(3)]);
  const lo = int(L), hi = lo + int(L - lo + 1), T = 1 + int(L), a = int(L - T + 1);
  return { B, R, L, rule, lo, hi, a, T, k, cand, x0, conf, canvas };
}

/** The reference: mask_fill, the one selection rule, scatter_tokens, the record. */
function expected(c: Case) {
  const canvas = c.canvas.slice(), sel = new Uint8Array(c.B * c.R);
  const masked = Float64Array.from(c.conf, (v, i) => (c.cand[i] >= 0 ? v : -Infinity));
  const rows = [];
  for (let b = 0; b < c.B; b++) {
    const o = b * c.R;
    applySelectionRule(c.rule, masked, o, c.R, c.k[b], sel);
    const chosen = Array.from({ length: c.R }, (_, i) => i).filter((i) => sel[o + i]);
    for (const i of chosen) canvas[b * c.L + c.cand[o + i]] = c.x0[o + i];
    let masks = 0;
    for (let p = c.lo; p < c.hi; p++) if (canvas[b * c.L + p] === MASK) masks++;
    rows.push({ positions: chosen.map((i) => c.cand[o + i]), tokens: chosen.map((i) => c.x0[o + i]), confidences: chosen.map((i) => c.conf[o + i]), masks });
  }
  const ids = new Int32Array(c.B * c.T);
  for (let b = 0; b < c.B; b++) ids.set(c.canvas.subarray(b * c.L + c.a, b * c.L + c.a + c.T), b * c.T);
  return { canvas, rows, ids };
}

function runCase(bin: string, c: Case) {
  const args = new Uint8Array(16 + 4 * c.B + 4 * c.B * c.R);
  const dv = new DataView(args.buffer);
  const { mode, param } = selectScatterArgs(c.rule);
  dv.setFloat64(0, param, true);
  dv.setInt32(8, c.lo, true);
  dv.setInt32(12, c.hi, true);
  new Int32Array(args.buffer, 16, c.B).set(c.k);
  new Int32Array(args.buffer, 16 + 4 * c.B, c.B * c.R).set(c.cand);
  const parts: ArrayBufferView[] = [Int32Array.of(c.B, c.R, c.L, mode, MASK, c.a, c.T), c.x0, c.conf, Int32Array.of(args.length), args, c.canvas];
  const out = runHarness(bin, Buffer.concat(parts.map(bytes)));
  const { B, R, L, T } = c;
  const canvas = new Int32Array(out.slice(0, 4 * B * L).buffer);
  const rec = out.slice(4 * B * L, 4 * B * L + 16 * B * R + 8 * B);
  const ids = new Int32Array(out.slice(4 * B * L + rec.length, 4 * B * L + rec.length + 4 * B * T).buffer);
  const conf = new Float64Array(rec.buffer, 0, B * R), pos = new Int32Array(rec.buffer, 8 * B * R, B * R), tok = new Int32Array(rec.buffer, 12 * B * R, B * R);
  const head = new Int32Array(rec.buffer, 16 * B * R, 2 * B);
  const rows = Array.from({ length: B }, (_, b) => {
    const n = head[2 * b], o = b * R;
    return { positions: Array.from(pos.subarray(o, o + n)), tokens: Array.from(tok.subarray(o, o + n)), confidences: Array.from(conf.subarray(o, o + n)), masks: head[2 * b + 1] };
  });
  return { canvas, rows, ids };
}

describeGated(CXX, 'decode_window and select_scatter (their CUDA source on CPU threads) vs the reference selection', () => {
  it('every mode on random rows, SEED-replayable', () => {
    const bin = build();
    const rng = new Rng(SEED);
    for (const mode of ['topk', 'threshold', 'factor'] as const) {
      for (let t = 0; t < 8; t++) {
        const c = randomCase(rng, mode);
        const want = expected(c), got = runCase(bin, c);
        const what = `${mode} case ${t} (B ${c.B}, R ${c.R}, rule ${JSON.stringify(c.rule)}, SEED=${SEED})`;
        expect(got.rows, what).toEqual(want.rows);
        expect(Array.from(got.canvas), what).toEqual(Array.from(want.canvas));
        expect(Array.from(got.ids), what).toEqual(Array.from(want.ids));
      }
    }
  }, 120_000);

  it('ties, built by hand: a confidence equal to the threshold is chosen (>=), a factor step is not failed at equality, equal confidences rank the lower row first', () => {
    const bin = build();
    const P = 3;
    /** One row, every head row a candidate at canvas position P + i. */
    const hand = (rule: SelectionRule, conf: number[], k = 0): Case => {
      const R = conf.length, L = P + R + 4;
      const canvas = new Int32Array(L).map((_, p) => 20 + p);
      for (let i = 0; i < R; i++) canvas[P + i] = MASK;
      return { B: 1, R, L, rule, lo: 0, hi: L, a: 0, T: L, k: Int32Array.of(k), cand: Int32Array.from(conf, (_, i) => P + i),
        x0: Int32Array.from(conf, (_, i) => 100 + i), conf: Float64Array.from(conf), canvas };
    };
    const t32 = Math.fround(0.9);
    const cases: [string, Case, number[]][] = [
      // Rows 1 and 3 sit exactly on the threshold: chosen with >=, not with >.
      ['threshold 0.5 (f64), two ties', hand(thresholdRule(0.5, 'f64'), [0.9, 0.5, 0.25, 0.5, 0.4999999999999999]), [0, 1, 3]],
      // The f32 rule's threshold is rounded once; a confidence equal to the rounded value ties.
      ['threshold 0.9 (f32), tie with the rounded value', hand(thresholdRule(0.9, 'f32'), [0.3, t32, 0.95, 0.89999997]), [1, 2]],
      // Only the most confident, below the threshold: still chosen.
      ['threshold 1, none reach it', hand(thresholdRule(1, 'f64'), [0.2, 0.7, 0.7]), [1]],
      // Factor 1: rank 1 equals thr[1] = 1 - 1/3 (not < thr: kept); rank 2 fails 0.75.
      ['factor 1, a confidence equal to thr[1]', hand(factorRule(1), [0.1, 1 - 1 / 3, 0.95, 0.05]), [1, 2]],
      // Equal confidences: the lower head row ranks first.
      ['top-2 of equal confidences', hand(topkRule(), [0.5, 0.7, 0.5, 0.5], 2), [0, 1]],
    ];
    for (const [what, c, rows] of cases) {
      const want = expected(c), got = runCase(bin, c);
      expect(want.rows[0].positions, `${what}: the one rule`).toEqual(rows.map((i) => P + i));
      expect(got.rows, `${what}: select_scatter`).toEqual(want.rows);
      expect(Array.from(got.canvas), what).toEqual(Array.from(want.canvas));
    }
  }, 120_000);
});
