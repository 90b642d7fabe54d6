import { DREAM_ALGS, OptionError, type GenerateOptions } from '../decode/options.ts';
import type { DecoderConfig } from '../models/define.ts';
import { isBlockDiffusion } from '../models/fast-dllm-qwen.ts';
import { refuseV2Options } from '../decode/v2-options.ts';

/** Server-wide limits and defaults a request is checked against. */
export interface RequestLimits {
  /** Generation length (after rounding up to whole blocks) at most this. */
  maxGenTokens: number;
  maxPromptTokens: number;
  /** max_tokens when a request gives none. */
  defaultMaxTokens: number;
}

const opt = (t: string | string[], extra: object = {}) => ({ type: Array.isArray(t) ? [...t, 'null'] : [t, 'null'], ...extra });

/** Fields common to both endpoints: OpenAI's, then fastdllm's decoding options. */
const COMMON = {
  model: opt('string'),
  max_tokens: opt('integer', { minimum: 1 }),
  max_completion_tokens: opt('integer', { minimum: 1 }),
  temperature: opt('number', { minimum: 0 }),
  seed: opt('integer'),
  stop: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 4 }, { type: 'null' }] },
  stream: opt('boolean'),
  stream_options: { anyOf: [{ type: 'object', properties: { include_usage: { type: 'boolean' }, denoise: { type: 'boolean' } } }, { type: 'null' }] },
  n: opt('integer', { minimum: 1, maximum: 1 }),
  block_length: opt('integer', { minimum: 1 }),
  steps: opt('integer', { minimum: 1 }),
  cache: opt('string', { enum: ['none', 'prefix', 'dual', null] }),
  threshold: opt('number', { exclusiveMinimum: 0, maximum: 1 }),
  factor: opt('number', { exclusiveMinimum: 0 }),
  remasking: opt('string', { enum: ['low_confidence', 'random', null] }),
  alg: opt('string', { enum: [...DREAM_ALGS, null] }),
  early_exit: opt('boolean'),
  // Fast-dLLM v2 models only (REFERENCE-V2.md): the sub-block length and the sub-block cache.
  small_block: opt('integer', { minimum: 1 }),
  block_cache: opt('boolean'),
} as const;

/** JSON schema of POST /v1/completions (fastify validates it; failures are 400s naming the field). */
export const COMPLETION_SCHEMA = {
  type: 'object',
  required: ['prompt'],
  properties: {
    ...COMMON,
    prompt: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } }] },
  },
} as const;

/** JSON schema of POST /v1/chat/completions. */
export const CHAT_SCHEMA = {
  type: 'object',
  required: ['messages'],
  properties: {
    ...COMMON,
    messages: {
      type: 'array', minItems: 1,
      items: { type: 'object', required: ['role', 'content'], properties: { role: { type: 'string', enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } } },
    },
  },
} as const;

/** A request body after schema validation (null fields are as good as absent). */
export interface RequestBody {
  model?: string | null;
  prompt?: string | number[];
  messages?: { role: string; content: string }[];
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  seed?: number | null;
  stop?: string | string[] | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean; denoise?: boolean } | null;
  block_length?: number | null;
  steps?: number | null;
  cache?: 'none' | 'prefix' | 'dual' | null;
  threshold?: number | null;
  factor?: number | null;
  remasking?: 'low_confidence' | 'random' | null;
  alg?: (typeof DREAM_ALGS)[number] | null;
  early_exit?: boolean | null;
  small_block?: number | null;
  block_cache?: boolean | null;
}

/** Decode option names as request fields, so that errors name what the client sent. */
const FIELD: Record<string, string> = {
  genLength: 'max_tokens', blockLength: 'block_length', earlyExit: 'early_exit', smallBlock: 'small_block', blockCache: 'block_cache', cfgScale: 'cfg_scale', topP: 'top_p', topK: 'top_k', maskId: 'mask_id',
};

/** The request field an OptionError is about. */
export const fieldOf = (option: string) => FIELD[option] ?? option;

/**
 * Decode options of a request for the served model, with the CLI's defaults. Fast-dLLM v1
 * models (LLaDA, Dream): dual cache, threshold 0.9 unless factor, steps or a fixed-schedule alg
 * is given; greedy. Fast-dLLM v2 models: no v1 defaults (their routine defaults threshold 0.9,
 * small_block 8, no block cache, and refuses v1-only fields by name). max_tokens is the
 * generation length rounded up to whole blocks (block_length, default 32; a v2 model's bd_size).
 * `small_block` and `block_cache` reach a v1 model only to be refused by name.
 */
export function decodeOptions(b: RequestBody, limits: RequestLimits, cfg?: DecoderConfig): GenerateOptions {
  const v = <T>(x: T | null | undefined) => (x === null ? undefined : x);
  const v2 = cfg !== undefined && isBlockDiffusion(cfg);
  const blockLength = v(b.block_length) ?? (v2 ? cfg.blockSize : 32);
  const want = v(b.max_tokens) ?? v(b.max_completion_tokens) ?? limits.defaultMaxTokens;
  const genLength = Math.ceil(want / blockLength) * blockLength;
  if (genLength > limits.maxGenTokens) throw new OptionError('genLength', `${want} tokens (${genLength} in whole blocks of ${blockLength}) exceed this server's limit of ${limits.maxGenTokens}`);
  const fixedAlg = v(b.alg) !== undefined && b.alg !== 'confidence_threshold';
  const o: GenerateOptions = {
    genLength, blockLength,
    steps: v(b.steps), cache: v(b.cache) ?? (v2 ? undefined : 'dual'),
    threshold: v(b.threshold) ?? (!v2 && v(b.factor) === undefined && v(b.steps) === undefined && !fixedAlg ? 0.9 : undefined),
    factor: v(b.factor), remasking: v(b.remasking), alg: v(b.alg), temperature: v(b.temperature), seed: v(b.seed), earlyExit: v(b.early_exit),
    smallBlock: v(b.small_block), blockCache: v(b.block_cache),
  };
  for (const k of Object.keys(o) as (keyof GenerateOptions)[]) if (o[k] === undefined) delete o[k];
  if (cfg && !v2) refuseV2Options(o, cfg);
  return o;
}

/** The stop strings of a request, as a list. */
export function stopStrings(b: RequestBody): string[] {
  return b.stop == null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop;
}
