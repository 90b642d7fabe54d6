import { describe, expect, it } from 'vitest';
import { loadCudaModel, type CudaModel } from '../../src/runtime/cuda/model.ts';
import { checkCaseOn } from '../decode/check-case.ts';
import { compareVector, runVector } from '../helpers/forward-vector.ts';
import { loadCases, loadForwardGolden, modelDir } from '../helpers/golden.ts';
import { cached } from '../helpers/cached.ts';
import { groupBy } from '../helpers/group-by.ts';
import { GPU, describeGated } from '../helpers/gates.ts';

/**
 * The fixture models end to end on the GPU in f32: forward logits against the golden vectors
 * (as test/runtime/forward-golden.test.ts checks the CPU), and every golden decoding case gives
 * exactly the expected tokens, nfe and per-step decisions (as test/decode checks the CPU).
 * Models load as the runtime loads them for decoding (headOutputs 'both'): LLaDA's greedy
 * steps then decide from the fused head's x0 and confidence, reading back no logits.
 */
const model = cached((name: string): Promise<CudaModel> => loadCudaModel(modelDir(name), { precision: 'f32', headOutputs: 'both' }));

describeGated(GPU, 'GPU (f32) forward vs golden logits', () => {
  for (const [name, g] of Object.entries(loadForwardGolden())) {
    it(`${name}: ${g.vectors.map((v) => v.call).join(', ')}`, async () => {
      const m = await model(name);
      for (const v of g.vectors) compareVector(runVector(m, v), v);
    });
  }
});

/** FASTDLLM_GOLDEN_EVERY=n checks every n-th case only (a shorter device run); default all. */
const EVERY = Number(process.env.FASTDLLM_GOLDEN_EVERY ?? 1);

describeGated(GPU, 'GPU (f32) golden decoding cases: the CPU\'s tokens and nfe', () => {
  for (const family of ['llada', 'dream'] as const) {
    const cases = loadCases(family).filter((_, i) => i % EVERY === 0);
    const groups = groupBy(cases, (c) => `${c.model} ${c.routine}`);
    for (const [key, group] of groups) {
      it(`${family} ${key}: ${group.length} cases`, async () => {
        const failures: string[] = [];
        for (const c of group) {
          const bad = checkCaseOn(await model(c.model), c);
          if (bad.length) failures.push(`${c.id}: ${bad.join('; ')}`);
        }
        expect(failures.slice(0, 5), `${failures.length} of ${group.length} cases differ`).toEqual([]);
      }, 600_000);
    }
  }
});
