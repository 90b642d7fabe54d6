import type { DecoderConfig } from '../models/define.ts';
import { isBlockDiffusion } from '../models/fast-dllm-qwen.ts';
import type { CacheMode, GenerateOptions } from '../decode/options.ts';
import { intFlag, numFlag } from './args.ts';

/** generate's flags for Fast-dLLM v2 models (REFERENCE-V2.md). */
export const V2_FLAGS = {
  'small-block': { type: 'string' }, 'block-cache': { type: 'boolean' }, 'stop-id': { type: 'string' }, 'pad-id': { type: 'string' },
} as const;

/** generate's help lines for those flags. */
export const V2_HELP = `Fast-dLLM v2 models (model_type Fast_dLLM_Qwen) decode block by block: --small-block N (default 8,
divides the block of 32), --threshold T (default 0.9, strict), --block-cache (the sub-block cache; off by
default, as published), --gen-length N (the most new tokens, in whole blocks), --mask-id/--stop-id/--pad-id
(default config.json's mask_token_id, eos_token_id, pad_token_id). v1 options (--cache, --steps, ...) are refused.
`;

type Flags = Record<string, string | boolean | undefined>;

/** The v2 flags given, as options (empty when none): on a v1 model decodeIds refuses them by name. */
function v2Given(v: Flags): Partial<GenerateOptions> {
  const s = (k: string) => v[k] as string | undefined;
  const o = {
    smallBlock: intFlag(s('small-block'), '--small-block', { min: 1 }),
    blockCache: v['block-cache'] ? true : undefined,
    stopId: intFlag(s('stop-id'), '--stop-id', { min: 0 }),
    padId: intFlag(s('pad-id'), '--pad-id', { min: 0 }),
  };
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<GenerateOptions>;
}

/**
 * The options generate decodes with, once the model is known. A v1 model keeps `v1` (the
 * CLI's Fast-dLLM v1 defaults) plus any v2 flag, which decodeIds then refuses. A v2 model gets
 * only what the user gave, with no v1 default: a v1 flag given explicitly (--cache dual, --steps)
 * reaches resolveV2Options, which refuses it naming the flag.
 */
export function flagOptionsFor(cfg: DecoderConfig, v1: GenerateOptions, v: Flags, embedded: boolean): GenerateOptions {
  if (!isBlockDiffusion(cfg)) return { ...v1, ...v2Given(v) };
  const s = (k: string) => v[k] as string | undefined;
  const o: Record<string, unknown> = {
    genLength: intFlag(s('gen-length'), '--gen-length', { min: 1 }) ?? (embedded ? 64 : 128),
    blockLength: intFlag(s('block-length'), '--block-length', { min: 1 }),
    steps: intFlag(s('steps'), '--steps', { min: 1 }),
    cache: s('cache') as CacheMode | undefined,
    threshold: numFlag(s('threshold'), '--threshold'),
    factor: numFlag(s('factor'), '--factor'),
    alg: s('alg'), remasking: s('remasking'),
    cfgScale: numFlag(s('cfg-scale'), '--cfg-scale'),
    topP: numFlag(s('top-p'), '--top-p'),
    topK: intFlag(s('top-k'), '--top-k'),
    temperature: numFlag(s('temperature'), '--temperature'),
    seed: intFlag(s('seed'), '--seed'),
    maskId: intFlag(s('mask-id'), '--mask-id'),
    earlyExit: v['early-exit'] ? true : undefined,
    ...v2Given(v),
  };
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as unknown as GenerateOptions;
}
