import { describe, expect, it } from 'vitest';
import { loadModel, generate } from '../../src/index.ts';
import { forwardFull } from '../../src/runtime/forward.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { relErr } from '../helpers/golden.ts';
import { writeTinyGqaCheckpoint, tinyGqa } from '../../examples/custom-model.ts';

describe('a user-defined model (examples/custom-model.ts: GQA, q/k/v biases, ungated MLP, tied head)', () => {
  const dir = writeTinyGqaCheckpoint(3);

  it('runs the same forward on the native and the reference backend', async () => {
    const nat = await loadHostModel(dir, { backend: 'native' });
    const ref = await loadHostModel(dir, { backend: 'reference' });
    expect(nat.definition).toBe(tinyGqa);
    expect(nat.graph.ofKind('attention')[0].attrs.kvHeads).toBe(2); // repeat_kv fused into the attention
    const ids = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]];
    // max-abs difference over max-abs value, the forward tolerance of the golden tests
    expect(relErr(forwardFull(nat, ids).data, forwardFull(ref, ids).data)).toBeLessThan(1e-5);
  });

  it('decodes with every cache mode; a batch gives each row its solo answer', async () => {
    const model = await loadModel(dir);
    const solo: number[][] = [];
    for (const cache of ['none', 'prefix', 'dual'] as const) {
      const r = await generate(model, [5, 6, 7, 8], { genLength: 16, blockLength: 8, cache, threshold: 0.5 });
      expect(r.tokens[0]).toHaveLength(16);
      expect(r.tokens[0].every((t) => t >= 0 && t < 300 && t !== 299)).toBe(true);
      solo.push(r.tokens[0]);
    }
    const alone = (await generate(model, [9, 10], { genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.5 })).tokens[0];
    const batch = await generate(model, [[5, 6, 7, 8], [9, 10]], { genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.5 });
    expect(batch.tokens).toEqual([solo[2], alone]);
  });
});
