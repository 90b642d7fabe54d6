import type { DecoderConfig } from '../models/define.ts';
import { isBlockDiffusion } from '../models/fast-dllm-qwen.ts';
import type { GenerateOptions } from '../decode/options.ts';
import { choiceFlag, intFlag, numFlag } from './args.ts';

type Flags = Record<string, string | boolean | undefined>;

/** The generation length when --gen-length is not given. */
function defaultGenLength(embedded: boolean): number {
  return embedded ? 64 : 128;
}

/**
 * Every decoding flag the user gave, parsed and checked (a bad value is refused naming its
 * flag), with no defaults: a Fast-dLLM v2 model decodes with exactly these.
 */
export function givenOptions(v: Flags): GenerateOptions {
  const s = (k: string) => v[k] as string | undefined;
  const o: Partial<GenerateOptions> = {
    genLength: intFlag(s('gen-length'), '--gen-length', { min: 1 }),
    blockLength: intFlag(s('block-length'), '--block-length', { min: 1 }),
    steps: intFlag(s('steps'), '--steps', { min: 1 }),
    cache: choiceFlag(s('cache'), '--cache', ['none', 'prefix', 'dual'] as const),
    threshold: numFlag(s('threshold'), '--threshold'),
    factor: numFlag(s('factor'), '--factor'),
    alg: choiceFlag(s('alg'), '--alg', ['entropy', 'maskgit_plus', 'topk_margin', 'confidence_threshold'] as const),
    remasking: choiceFlag(s('remasking'), '--remasking', ['low_confidence', 'random'] as const),
    cfgScale: numFlag(s('cfg-scale'), '--cfg-scale'),
    topP: numFlag(s('top-p'), '--top-p'),
    topK: intFlag(s('top-k'), '--top-k'),
    temperature: numFlag(s('temperature'), '--temperature'),
    seed: intFlag(s('seed'), '--seed'),
    maskId: intFlag(s('mask-id'), '--mask-id'),
    earlyExit: v['early-exit'] ? true : undefined,
    // Fast-dLLM v2's own flags; a v1 model refuses them by name (decodeIds).
    smallBlock: intFlag(s('small-block'), '--small-block', { min: 1 }),
    blockCache: v['block-cache'] ? true : undefined,
    stopId: intFlag(s('stop-id'), '--stop-id', { min: 0 }),
    padId: intFlag(s('pad-id'), '--pad-id', { min: 0 }),
  };
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as unknown as GenerateOptions;
}

/**
 * The flags as options with the CLI's Fast-dLLM v1 defaults: dual cache, block 32, threshold
 * 0.9 unless a factor, a step count or a fixed-schedule alg is given.
 */
function optionsFromFlags(v: Flags, embedded: boolean): GenerateOptions {
  const g = givenOptions(v);
  const genLength = g.genLength ?? defaultGenLength(embedded);
  const fixedAlg = g.alg !== undefined && g.alg !== 'confidence_threshold';
  const threshold = g.threshold ?? (g.factor === undefined && g.steps === undefined && !fixedAlg ? 0.9 : undefined);
  const o: GenerateOptions = { ...g, genLength, blockLength: g.blockLength ?? Math.min(32, genLength), cache: g.cache ?? 'dual', earlyExit: !!g.earlyExit };
  if (threshold !== undefined) o.threshold = threshold;
  return o;
}

/**
 * The options generate decodes with, once the model is known: a v1 model takes the v1 defaults
 * (optionsFromFlags); a v2 model only what the user gave (plus the generation length), so a v1
 * flag given explicitly (--cache dual, --steps) reaches resolveV2Options, which refuses it by name.
 */
export function flagOptionsFor(cfg: DecoderConfig, v: Flags, embedded: boolean): GenerateOptions {
  if (!isBlockDiffusion(cfg)) return optionsFromFlags(v, embedded);
  const g = givenOptions(v);
  return { ...g, genLength: g.genLength ?? defaultGenLength(embedded) };
}
