import { describe, expect, it } from 'vitest';
import { createCudaExecutor } from '../../src/runtime/cuda/executor.ts';
import { allclose, TOL, zeroStates } from './gpu-helpers.ts';
import { dualStepCalls, wideLlada } from '../../bench/device/wide-model.ts';
import { GPU, describeGated } from '../helpers/gates.ts';

/**
 * bf16 at real width: a 4-layer LLaDA-8B-width model (random weights, in memory) in bf16 against
 * the same model in f32 (both on the GPU; the f32 path is checked against the CPU reference
 * elsewhere), over a dual-cache refresh and step. The vocabulary is cut to 16384 rows: the
 * head's width changes nothing the check covers and saves host time making weights.
 */
/**
 * The bf16 tolerance of this model, from a yardstick: PyTorch's own bf16 forward (HF
 * convention: bf16 weights and activations, f32 accumulation, RMSNorm and RoPE in f32) of the
 * same construction lands 2.02e-2 from f32 in relative norm, with 1573 of 524288 logits outside
 * the elementwise atol 1e-2 / rtol 1.6e-2 (bench/device/bf16_yardstick.py, CPU, seed 0, 288
 * tokens, 32 head rows). The earlier limit of 1e-2 was below what bf16 itself allows; fastdllm
 * must do no worse than PyTorch's bf16 plus a quarter. Elementwise checks of bf16 are made
 * against a model with the same rounding points (kernel-checks.ts), not against f32.
 */
const BF16_WIDE_REL_NORM = 2.5e-2;
/**
 * The share of logits outside atol 1e-2 / rtol 1.6e-2, by the same yardstick: PyTorch's bf16
 * leaves 1573 of 524288 (0.30%) outside; fastdllm may leave that plus a quarter (0.375%).
 * Not yet run on a GPU: the H100 run measured only the relative norm (1.48e-2, inside PyTorch's 2.02e-2).
 */
const BF16_WIDE_BAD_SHARE = 1.25 * (1573 / 524288);

describeGated(GPU, 'bf16 at LLaDA-8B width vs an f32 reference', () => {
  it('4 layers, refresh + dual-cache step: logits within bf16 tolerance', async () => {
    const { graph, weights, vocab } = wideLlada(4, 16384);
    const calls = dualStepCalls(vocab);
    const results: Record<string, Float32Array[]> = {};
    for (const precision of ['f32', 'bf16'] as const) {
      const ex = await createCudaExecutor(graph, weights(true), { precision });
      try {
        const states = zeroStates(graph, 1, 288);
        results[precision] = calls.map((c) => ex.run(c, states).logits.data as Float32Array);
      } finally {
        ex.dispose();
      }
    }
    results.f32.forEach((r, i) => {
      const c = allclose(results.bf16[i], r, TOL.bf16.atol, TOL.bf16.rtol);
      const scale = Math.sqrt(r.reduce((s, x) => s + x * x, 0) / r.length);
      console.log(`bf16 vs f32, call ${i}: logits rms ${scale.toFixed(3)}, max |err| ${c.maxAbs.toExponential(2)}, relative norm error ${c.relNorm.toExponential(2)}, ${c.bad} of ${r.length} outside atol 1e-2 rtol 1.6e-2`);
      expect(c.bad, `call ${i}: logits outside atol/rtol`).toBeLessThanOrEqual(Math.floor(BF16_WIDE_BAD_SHARE * r.length));
      expect(Number.isFinite(c.relNorm)).toBe(true);
      expect(c.relNorm, `call ${i}`).toBeLessThan(BF16_WIDE_REL_NORM);
    });
  }, 300_000);
});
