import { describe, expect, it } from 'vitest';
import type { CudaPrecision } from '../../src/codegen/cuda/types.ts';
import { hasCuda } from '../../src/runtime/cuda/device.ts';
import { createCudaExecutor } from '../../src/runtime/cuda/executor.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import { allclose, fallbackGraph, argmaxProb, TEST_SHAPES as SHAPES, randomCall, randomWeights, referenceExecutor, Rng, SEED, tinyGraph, TOL, zeroStates } from './gpu-helpers.ts';

/**
 * Every kernel family against the CPU reference (src/runtime/reference) on fresh random inputs
 * at odd sizes, in the fused contexts the models use: embedding; QKV with bias, RoPE and cache
 * write; attention with GQA and a key-padding mask; o-proj + residual; gate/up + SwiGLU;
 * down + residual; the LM head on gathered rows with x0 / confidence. A refresh call fills the
 * cache, then a window call at an offset reads old rows and overwrites its own.
 */
const WINDOWS = [1, 7, 33, 129];
const B = 2, KMAX = 140;

const ctx = (what: string) => `${what} (SEED=${SEED})`;

function compare(a: HostTensor | undefined, r: HostTensor, precision: CudaPrecision, what: string): void {
  expect(a, ctx(`${what}: missing`)).toBeDefined();
  expect(a!.shape).toEqual(r.shape);
  const t = TOL[precision];
  const c = allclose(a!.data, r.data, t.atol, t.rtol);
  expect(c.ok, ctx(`${what}: ${c.bad} of ${r.data.length} outside atol ${t.atol} rtol ${t.rtol}; worst ${c.worst}; relative norm error ${c.relNorm.toExponential(2)}`)).toBe(true);
}

describe.runIf(hasCuda())('CUDA kernels vs the CPU reference', () => {
  for (const { name, dims } of SHAPES) {
    for (const precision of ['f32', 'bf16'] as const) {
      it(`${name}, ${precision}: windows ${WINDOWS.join(', ')}`, async () => {
        const g = tinyGraph(dims);
        const w = randomWeights(SEED, () => 0.08, precision === 'bf16');
        const ref = await referenceExecutor(g, w);
        const gpu = await createCudaExecutor(g, w, { precision, headOutputs: 'both', poison: true });
        try {
          const rng = new Rng(SEED);
          for (const T of WINDOWS) {
            const sr = zeroStates(g, B, KMAX), sg = zeroStates(g, B, KMAX);
            const calls = [randomCall(rng, dims.vocab, B, KMAX, 0, KMAX, 9), randomCall(rng, dims.vocab, B, T, Math.max(0, KMAX - T - 3), KMAX, 5)];
            for (const [ci, call] of calls.entries()) {
              const r = ref.run(call, sr);
              const o = gpu.run(call, sg);
              const what = `${name} ${precision} T=${call.ids.shape[1]} call ${ci}`;
              compare(o.logits, r.logits, precision, `${what} logits`);
              // x0 is the first maximum of the kernel's own logits; its f64 probability matches too.
              const V = dims.vocab, rows = r.logits.data.length / V;
              for (let i = 0; i < rows; i++) {
                const own = argmaxProb(o.logits.data.subarray(i * V, (i + 1) * V));
                expect(o.x0.data[i], ctx(`${what} x0 row ${i}`)).toBe(own.x0);
                expect(Math.abs((o.confidence.data[i] as number) - own.p), ctx(`${what} confidence row ${i}`)).toBeLessThan(1e-9);
              }
              for (const [k, t] of Object.entries(sr)) {
                compare({ data: gpu.readState(sg[k]), shape: t.shape }, t, precision, `${what} ${k}`);
              }
            }
          }
        } finally {
          gpu.dispose();
        }
      });
    }
  }

  it('unfused ops run through the fallback kernels (rmsnorm, rope, cache_write, repeat_kv, add, silu, mul, gather_rows, logit_shift)', async () => {
    for (const kvHeads of [1, 3]) {
      const g = fallbackGraph(48, 3, kvHeads, 37);
      const w = randomWeights(SEED + kvHeads, () => 0.08);
      const ref = await referenceExecutor(g, w);
      const gpu = await createCudaExecutor(g, w, { precision: 'f32', poison: true });
      try {
        const fams = new Set(gpu.plan.kernels.map((k) => k.family));
        for (const f of ['rmsnorm', 'rope', 'copy_rows', 'elementwise', ...(kvHeads < 3 ? ['repeat_kv'] : [])]) expect(fams.has(f as never), f).toBe(true);
        const rng = new Rng(SEED + kvHeads);
        const sr = zeroStates(g, B, 40), sg = zeroStates(g, B, 40);
        for (const call of [randomCall(rng, 37, B, 40, 0, 40, 3), randomCall(rng, 37, B, 9, 20, 40, 4)]) {
          const r = ref.run(call, sr), o = gpu.run(call, sg);
          for (const k of Object.keys(r)) compare(o[k], r[k], 'f32', `fallback graph (kv ${kvHeads}) output ${k}`);
          for (const [k, t] of Object.entries(sr)) compare({ data: gpu.readState(sg[k]), shape: t.shape }, t, 'f32', `fallback graph ${k}`);
        }
      } finally {
        gpu.dispose();
      }
    }
  });

  it('bad indices are errors, never stray device accesses', async () => {
    const dims = SHAPES[1].dims;
    const g = tinyGraph(dims);
    const gpu = await createCudaExecutor(g, randomWeights(SEED), { precision: 'f32' });
    try {
      const rng = new Rng(SEED);
      const s = zeroStates(g, 1, 16);
      const call = randomCall(rng, dims.vocab, 1, 4, 0, 16, 2);
      (call.ids.data as Int32Array)[1] = dims.vocab;
      expect(() => gpu.run(call, s)).toThrow(/outside the vocabulary/);
      const c2 = randomCall(rng, dims.vocab, 1, 4, 14, 16, 2);
      expect(() => gpu.run(c2, s)).toThrow(/cache write rows/);
      const c3 = randomCall(rng, dims.vocab, 1, 4, 0, 16, 2);
      (c3.headRows.data as Int32Array)[0] = 4;
      expect(() => gpu.run(c3, s)).toThrow(/head row/);
    } finally {
      gpu.dispose();
    }
  });
});

