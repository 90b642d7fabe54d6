import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import { loadCases, modelDir } from '../helpers/golden.ts';

const textUpToEos = (t: number[], eos: number) => (t.indexOf(eos) < 0 ? t : t.slice(0, t.indexOf(eos) + 1));

describe('early exit at EOS', () => {
  it('Dream: same text up to EOS, fewer forwards', async () => {
    const c = loadCases('dream').find((x) => x.id === 'dream_s20/p0/routine=prefix_cache,alg=entropy,gen_length=64,block_length=8,steps=64')!;
    const m = await loadHostModel(modelDir(c.model));
    const full = decodeIdsToEnd(m, [c.prompt], caseOptions(c));
    const early = decodeIdsToEnd(m, [c.prompt], { ...caseOptions(c), earlyExit: true });
    expect(full.tokens[0]).toEqual(c.generated);
    expect(full.nfe).toBe(c.nfe);
    expect(textUpToEos(early.tokens[0], c.params.eos_id)).toEqual(textUpToEos(c.generated, c.params.eos_id));
    expect(early.nfe).toBeLessThan(full.nfe);
  });

  it('LLaDA, every routine: a token that appears early, taken as EOS, stops decoding losslessly', async () => {
    const cases = loadCases('llada').filter((c) => c.model === 'llada_s20' && c.prompt.length === 7 && c.params.gen_length === 64 && c.params.block_length === 8 && !c.params.cfg_scale);
    for (const routine of ['generate', 'prefix_cache', 'dual_cache']) {
      const c = cases.find((x) => x.routine === routine && x.params.mode === 'threshold')!;
      const eos = c.generated[10]; // pretend this token is EOS: the model does not know, decoding is unchanged
      const base = await loadHostModel(modelDir(c.model));
      const m = { ...base, config: { ...base.config, eosId: eos } };
      const full = decodeIdsToEnd(m, [c.prompt], caseOptions(c));
      const early = decodeIdsToEnd(m, [c.prompt], { ...caseOptions(c), earlyExit: true });
      expect(full.tokens[0]).toEqual(c.generated);
      expect(full.nfe, c.id).toBe(c.nfe); // the EOS id alone changes nothing without earlyExit
      expect(textUpToEos(early.tokens[0], eos), c.id).toEqual(textUpToEos(c.generated, eos));
      expect(early.nfe, c.id).toBeLessThan(full.nfe);
    }
  });
});
