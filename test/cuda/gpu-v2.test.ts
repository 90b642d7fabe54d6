import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import type { CudaPrecision } from '../../src/codegen/cuda/types.ts';
import { loadCudaModel, type CudaModel } from '../../src/runtime/cuda/model.ts';
import { checkV2Case, v2CaseOptions } from '../decode/v2-check.ts';
import { fixtureModelDir, loadV2Cases, onePerPromptLength, v2Groups, type V2Case } from '../helpers/v2-fixtures.ts';
import { cached } from '../helpers/cached.ts';
import { groupBy } from '../helpers/group-by.ts';
import { GPU, describeGated } from '../helpers/gates.ts';

/**
 * Fast-dLLM v2 (block diffusion, Dream's kernels) on the GPU, as test/cuda/v2-emulated.test.ts
 * checks it on the emulated device: in f32 every golden case gives exactly its tokens, nfe and
 * per-forward positions; a batch of prompts of different lengths gives each row its golden
 * tokens and nfe (f32) and, in bf16, each row's solo tokens (a row's answer must not depend on
 * its batch). FASTDLLM_GOLDEN_EVERY=n checks every n-th case only (a shorter device run).
 */
const EVERY = Number(process.env.FASTDLLM_GOLDEN_EVERY ?? 1);
const cases = loadV2Cases();

const loaded = cached((name: string, precision: CudaPrecision): Promise<CudaModel> => loadCudaModel(fixtureModelDir(name), { precision, headOutputs: 'both' }));
const model = (name: string, precision: CudaPrecision = 'f32') => loaded(name, precision);

/** Cases of one model and parameter set with different prompt lengths (at most 4), block cache preferred. */
function batchRows(): V2Case[] {
  const distinct = (g: V2Case[]) => onePerPromptLength(g).slice(0, 4);
  const score = (g: V2Case[]) => distinct(g).length * 2 + (g[0].params.use_block_cache ? 1 : 0);
  return distinct([...v2Groups(cases).values()].sort((a, b) => score(b) - score(a))[0]);
}

describeGated(GPU, 'GPU (f32) Fast-dLLM v2 golden cases: tokens, nfe and step positions', () => {
  const byModel = groupBy(cases.filter((_, i) => i % EVERY === 0), (c) => c.model);
  for (const [name, group] of byModel) {
    it(`${name}: ${group.length} cases`, async () => {
      const m = await model(name);
      expect(m.backend).toBe('cuda-f32');
      const failures: string[] = [];
      for (const c of group) {
        const bad = checkV2Case(m, c);
        if (bad.length) failures.push(`${c.id} (min margin ${c.min_margin}): ${bad.join('; ')}`);
      }
      expect(failures.slice(0, 3), `${failures.length} of ${group.length} cases differ`).toEqual([]);
    }, 300_000);
  }
});

describeGated(GPU, 'GPU Fast-dLLM v2 batches of different prompt lengths', () => {
  it('f32: each row gives its golden tokens and nfe', async () => {
    const rows = batchRows();
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const r = decodeIdsToEnd(await model(rows[0].model), rows.map((c) => c.prompt), v2CaseOptions(rows[0]));
    expect(r.tokens).toEqual(rows.map((c) => c.generated));
    expect(r.rowNfe).toEqual(rows.map((c) => c.nfe));
  });

  it('bf16: each row gives its solo tokens and nfe', async () => {
    const rows = batchRows();
    const m = await model(rows[0].model, 'bf16');
    expect(m.backend).toBe('cuda-bf16');
    const opts = v2CaseOptions(rows[0]);
    const r = decodeIdsToEnd(m, rows.map((c) => c.prompt), opts);
    const solo = rows.map((c) => decodeIdsToEnd(m, [c.prompt], opts));
    expect(r.tokens).toEqual(solo.map((s) => s.tokens[0]));
    expect(r.rowNfe).toEqual(solo.map((s) => s.nfe));
  });
});
