import { describe, expect, it } from 'vitest';
import { loadHostModel } from '../../src/runtime/model.ts';
import { compareVector, runVector } from '../helpers/forward-vector.ts';
import { loadForwardGolden, modelDir } from '../helpers/golden.ts';

const golden = loadForwardGolden();

for (const backend of ['reference', 'native'] as const) {
  describe(`forward pass vs golden logits (${backend} backend)`, () => {
    for (const [name, m] of Object.entries(golden)) {
      it(`${name}: ${m.vectors.map((v) => v.call).join(', ')}`, async () => {
        const model = await loadHostModel(modelDir(name), { backend });
        expect(model.config.vocabSize).toBe(m.vocab_size);
        expect(model.config.maskId).toBe(m.mask_id);
        for (const v of m.vectors) compareVector(runVector(model, v), v);
      });
    }
  });
}
