import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { modelDir } from '../helpers/golden.ts';

// Sampled paths are not in the golden vectors (they depend on the RNG); what must hold is that
// a seed reproduces a run, that seeds differ, and that a row samples the same alone or batched.
describe('sampling (temperature > 0, random remasking)', () => {
  for (const name of ['llada_s3', 'dream_s3']) {
    it(`${name}: a seed reproduces, another seed differs, batches keep each row's sample`, async () => {
      const m = await loadHostModel(modelDir(name));
      const dream = m.config.logitShift;
      const o = { genLength: 32, blockLength: 8, cache: 'dual' as const, temperature: 1, ...(dream ? { alg: 'maskgit_plus' as const, steps: 32 } : { remasking: 'random' as const }) };
      const a = decodeIdsToEnd(m, [[5, 6, 7]], { ...o, seed: 1 });
      const b = decodeIdsToEnd(m, [[5, 6, 7]], { ...o, seed: 1 });
      const c = decodeIdsToEnd(m, [[5, 6, 7]], { ...o, seed: 2 });
      expect(a.tokens).toEqual(b.tokens);
      expect(c.tokens).not.toEqual(a.tokens);
      const alone = decodeIdsToEnd(m, [[9, 10, 11, 12, 13]], { ...o, seed: 1 });
      const batch = decodeIdsToEnd(m, [[5, 6, 7], [9, 10, 11, 12, 13]], { ...o, seed: 1 });
      expect(batch.tokens).toEqual([a.tokens[0], alone.tokens[0]]);
      expect(a.tokens[0].includes(m.config.maskId)).toBe(false);
    });
  }
});
