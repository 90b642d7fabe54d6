import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import { loadCudaModel } from '../../src/runtime/cuda/model.ts';
import { checkV2Case, v2CaseOptions } from '../decode/v2-check.ts';
import { fixtureModelDir, loadV2Cases, onePerPromptLength, v2ParamsKey, type V2Case } from '../helpers/v2-fixtures.ts';
import { EmulatedDevice } from './emulated-device.ts';

/**
 * Fast-dLLM v2 through the CUDA executor (the path of the 7B, which shares Dream's kernels) on
 * the emulated device, f32: golden cases give their tokens, nfe and per-forward positions, and a
 * batch of different prompt lengths gives the rows' own tokens.
 */
async function emulatedModel(name: string) {
  const dev = new EmulatedDevice();
  const cm = await loadCudaModel(fixtureModelDir(name), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(cm.executor.plan);
  return cm;
}

describe('Fast-dLLM v2 on the emulated CUDA device (f32)', () => {
  const cases = loadV2Cases().filter((c) => c.model === 'v2_s20');
  // A few of each kind: with and without the block cache, a block-aligned prompt, a stop.
  const pick = (f: (c: V2Case) => boolean) => cases.find(f)!;
  const sample = [
    pick((c) => !c.params.use_block_cache && c.prompt.length < 32 && c.params.gen_length >= 64),
    pick((c) => c.params.use_block_cache && c.prompt.length > 32 && c.prompt.length % 32 !== 0 && c.steps.some((s) => s.kind === 'sub')),
    pick((c) => c.prompt.length % 32 === 0 && c.prompt.length > 32),
    pick((c) => c.generated.includes(c.params.stop_id)),
  ];

  it('golden cases: exact tokens, nfe and step positions', async () => {
    expect(sample.every((c) => c !== undefined)).toBe(true);
    const cm = await emulatedModel('v2_s20');
    expect(cm.backend).toBe('cuda-f32');
    for (const c of sample) expect(checkV2Case(cm, c), c.id).toEqual([]);
  });

  it('a batch of different prompt lengths gives each row its own tokens', async () => {
    const group = cases.filter((c) => v2ParamsKey(c) === v2ParamsKey(sample[1]));
    const rows = onePerPromptLength(group).slice(0, 4);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const cm = await emulatedModel('v2_s20');
    const r = decodeIdsToEnd(cm, rows.map((c) => c.prompt), v2CaseOptions(rows[0]));
    expect(r.tokens).toEqual(rows.map((c) => c.generated));
    expect(r.rowNfe).toEqual(rows.map((c) => c.nfe));
  });
});
