import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SELECT_MODES } from '../../src/codegen/cuda/step-kernels.ts';
import { selectFactorRow, selectThresholdRow, selectTopkRow } from '../../src/runtime/reference/ops.ts';
import { Rng, SEED } from './gpu-helpers.ts';
import { buildHarness, bytes, cxx, runHarness } from './cpu-threads/build.ts';

/**
 * The decode-step kernels' own CUDA source (templates/fd_decode.cuh) run on CPU threads
 * (cpu-threads/harness.cpp: a thread per CUDA thread, barriers for __syncthreads and the warp
 * exchanges) against the reference selection ops, on random rows: head rows past one CTA's 256
 * threads, non-candidates anywhere, tied confidences, every mode. What the GPU run adds is the
 * hardware; the logic is checked here.
 */
const build = () => buildHarness('decode', readFileSync(join(import.meta.dirname, 'cpu-threads', 'harness.cpp'), 'utf8'));

interface Case { B: number; R: number; L: number; mode: keyof typeof SELECT_MODES; param: number; lo: number; hi: number; a: number; T: number; k: Int32Array; cand: Int32Array; x0: Int32Array; conf: Float64Array; canvas: Int32Array }

const MASK = 7;

function randomCase(rng: Rng, mode: Case['mode']): Case {
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
  const param = mode === 'topk' ? 0 : mode === 'threshold' ? [0.3, 0.5, 0.9, 1][int(4)] : [0.5, 1, 2][int(3)];
  const lo = int(L), hi = lo + int(L - lo + 1), T = 1 + int(L), a = int(L - T + 1);
  return { B, R, L, mode, param, lo, hi, a, T, k, cand, x0, conf, canvas };
}

/** The reference: mask_fill, the select op, scatter_tokens, the record. */
function expected(c: Case) {
  const canvas = c.canvas.slice(), sel = new Uint8Array(c.B * c.R);
  const masked = Float64Array.from(c.conf, (v, i) => (c.cand[i] >= 0 ? v : -Infinity));
  const rows = [];
  for (let b = 0; b < c.B; b++) {
    const o = b * c.R;
    if (c.mode === 'topk') selectTopkRow(masked, o, c.R, c.k[b], sel);
    else if (c.mode === 'threshold') selectThresholdRow(masked, o, c.R, c.param, 'f64', sel);
    else selectFactorRow(masked, o, c.R, c.param, sel);
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
  dv.setFloat64(0, c.param, true);
  dv.setInt32(8, c.lo, true);
  dv.setInt32(12, c.hi, true);
  new Int32Array(args.buffer, 16, c.B).set(c.k);
  new Int32Array(args.buffer, 16 + 4 * c.B, c.B * c.R).set(c.cand);
  const parts: ArrayBufferView[] = [Int32Array.of(c.B, c.R, c.L, SELECT_MODES[c.mode], MASK, c.a, c.T), c.x0, c.conf, Int32Array.of(args.length), args, c.canvas];
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

describe.runIf(cxx !== null)('decode_window and select_scatter (their CUDA source on CPU threads) vs the reference selection', () => {
  it('every mode on random rows, SEED-replayable', () => {
    const bin = build();
    const rng = new Rng(SEED);
    for (const mode of ['topk', 'threshold', 'factor'] as const) {
      for (let t = 0; t < 8; t++) {
        const c = randomCase(rng, mode);
        const want = expected(c), got = runCase(bin, c);
        const what = `${mode} case ${t} (B ${c.B}, R ${c.R}, param ${c.param}, SEED=${SEED})`;
        expect(got.rows, what).toEqual(want.rows);
        expect(Array.from(got.canvas), what).toEqual(Array.from(want.canvas));
        expect(Array.from(got.ids), what).toEqual(Array.from(want.ids));
      }
    }
  }, 120_000);
});
