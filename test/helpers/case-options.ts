import type { GenerateOptions } from '../../src/decode/options.ts';
import type { GoldenCase } from './golden.ts';

const CACHE = { generate: 'none', prefix_cache: 'prefix', dual_cache: 'dual' } as const;

/** Maps a golden case's reference parameters to fastdllm's options. */
export function caseOptions(c: GoldenCase): GenerateOptions {
  const p = c.params;
  const o: GenerateOptions = { genLength: p.gen_length, steps: p.steps, cache: CACHE[c.routine], maskId: p.mask_id };
  if (p.block_length != null) o.blockLength = p.block_length;
  if (c.family === 'llada') {
    if (p.mode === 'threshold') o.threshold = p.threshold;
    if (p.mode === 'factor') o.factor = p.factor;
    if (p.cfg_scale) o.cfgScale = p.cfg_scale;
    o.remasking = p.remasking;
  } else {
    o.alg = p.alg;
    if (p.threshold != null) o.threshold = p.threshold;
    if (p.top_p != null) o.topP = p.top_p;
    if (p.top_k != null) o.topK = p.top_k;
    o.eps = p.eps;
  }
  return o;
}
