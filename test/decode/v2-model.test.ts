import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildForwardGraph } from '../../src/models/define.ts';
import { findModelDefinition } from '../../src/models/registry.ts';
import { isBlockDiffusion } from '../../src/models/fast-dllm-qwen.ts';
import { FIXTURES } from '../helpers/golden.ts';

const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
const paramNames = (hf: Record<string, unknown>, file: string) => {
  const def = findModelDefinition(hf, file);
  const g = buildForwardGraph(def, def.fromHfConfig(hf, file), { hasWeight: () => true });
  return new Set(g.ofKind('param').map((n) => (n.attrs as { name: string }).name));
};

describe('Fast_dLLM_Qwen configs', () => {
  it('load as Dream\'s Qwen2 forward with the v2 ids, the block size and, for the 1.5B, a tied head', () => {
    const file = join(FIXTURES, 'configs', 'fast-dllm-v2-1.5b.json');
    const hf = read(file);
    const def = findModelDefinition(hf, file);
    const cfg = def.fromHfConfig(hf, file);
    expect(isBlockDiffusion(cfg)).toBe(true);
    expect(cfg).toMatchObject({ architecture: 'fast_dllm_qwen', logitShift: true, tied: true, blockSize: 32, maskId: 151665, eosId: 151645, padId: 151643, nKvHeads: 2, headDim: 128 });
    const names = paramNames(hf, file);
    expect(names.has('model.embed_tokens.weight') && names.has('model.layers.27.self_attn.q_proj.bias')).toBe(true);
    expect(names.has('lm_head.weight')).toBe(false);
    // Untied, the same config reads lm_head.weight, as Dream does.
    expect(paramNames({ ...hf, tie_word_embeddings: false }, file).has('lm_head.weight')).toBe(true);
  });

  it('a v2 fixture config builds the very graph of its Dream twin (same weights, same forward)', () => {
    const v2 = join(FIXTURES, 'models', 'v2_s5', 'config.json'), dream = join(FIXTURES, 'models', 'dream_s5', 'config.json');
    const g = (f: string) => { const hf = read(f); const d = findModelDefinition(hf, f); return buildForwardGraph(d, d.fromHfConfig(hf, f), { hasWeight: () => true }); };
    expect(g(v2).hash).toBe(g(dream).hash);
  });
});
