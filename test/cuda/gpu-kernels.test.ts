import { describe, expect, it } from 'vitest';
import { createCudaExecutor } from '../../src/runtime/cuda/executor.ts';
import { randomCall, randomWeights, Rng, SEED, SPLIT_SHAPE, splitKConfig, TEST_SHAPES as SHAPES, tinyGraph, zeroStates } from './gpu-helpers.ts';
import { EmulatedDevice } from './emulated-device.ts';
import { checkFallbacks, checkTinyModel, onGpu, type MakeExecutor } from './kernel-checks.ts';
import { GPU, describeGated } from '../helpers/gates.ts';

/** The same executor on a CPU model of the kernels that rounds to bf16 where they do (see emulated-device.ts). */
const mirror: MakeExecutor = async (g, w, o) => {
  const dev = new EmulatedDevice();
  const ex = await createCudaExecutor(g, w, { ...o, context: dev.context, compile: false });
  dev.registerPlan(ex.plan);
  return ex;
};

/**
 * Every kernel family against the CPU reference (src/runtime/reference) on fresh random inputs
 * at odd sizes, in the fused contexts the models use: embedding; QKV with bias, RoPE and cache
 * write; attention with GQA and a key-padding mask; o-proj + residual; gate/up + SwiGLU;
 * down + residual; the LM head on gathered rows with x0 / confidence; and the unfused fallbacks.
 */
const WINDOWS = [1, 7, 33, 129];

describeGated(GPU, 'CUDA kernels vs the CPU reference', () => {
  for (const { name, dims } of SHAPES) {
    for (const precision of ['f32', 'bf16'] as const) {
      it(`${name}, ${precision}: windows ${WINDOWS.join(', ')}`, () => checkTinyModel(onGpu, name, dims, precision, WINDOWS, 2, 140, mirror));
    }
  }

  it('split-K GEMMs (bf16, 2 and 4 splits) vs the reference and the same roundings on the CPU', async () => {
    for (const k of [2, 4]) {
      const cfg = { gemmConfig: splitKConfig(k) };
      await checkTinyModel((g, w, o) => onGpu(g, w, { ...o, ...cfg }), `${SPLIT_SHAPE.name} ${k}`, SPLIT_SHAPE.dims, 'bf16', WINDOWS, 2, 140, (g, w, o) => mirror(g, w, { ...o, ...cfg }));
    }
  });

  it('unfused ops run through the fallback kernels (rmsnorm, rope, cache_write, repeat_kv, add, silu, mul, gather_rows, logit_shift)', async () => {
    for (const kvHeads of [1, 3]) await checkFallbacks(onGpu, kvHeads, 2);
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

