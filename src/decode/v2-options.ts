import type { FastDllmQwenConfig } from '../models/fast-dllm-qwen.ts';
import type { DecoderConfig } from '../models/define.ts';
import { thresholdRule, type SelectionRule } from '../ir/select-rule.ts';
import { OptionError, resolveOptions, type GenerateOptions, type ResolvedOptions } from './options.ts';
import { isBlockDiffusion } from '../models/fast-dllm-qwen.ts';

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** v1 options a Fast-dLLM v2 model has no use for, with what to say instead. */
const V1_ONLY: [keyof GenerateOptions, string][] = [
  ['steps', 'it decodes by threshold inside each sub-block, not by a step count'],
  ['factor', 'it has no factor mode; use threshold'],
  ['alg', 'it has no alg option (confidence by threshold only)'],
  ['remasking', 'it has no remasking option'],
  ['topP', 'it decodes greedily'],
  ['topK', 'it decodes greedily'],
  ['cfgScale', 'it has no classifier-free guidance'],
  ['eps', 'it has no schedule'],
];

/** The last block end of a prompt of `lp` tokens: the cache it needs (REFERENCE-V2.md, step 2). */
function v2CanvasEnd(lp: number, genLength: number, bl: number): number {
  return (Math.floor(genLength / bl) + Math.floor(lp / bl)) * bl;
}

/**
 * Defaults and validation for a Fast-dLLM v2 model, naming the option at fault: threshold 0.9
 * (strict `>`, compared in f32), smallBlock 8 (divides the block), no block cache, ids from
 * config.json. v1-only options are refused rather than ignored. The result is a ResolvedOptions
 * (the same decode seen through v1's fields: no cache, blocks of 32, one threshold rule) with
 * the v2 settings in `v2`.
 */
export function resolveV2Options(o: GenerateOptions, cfg: FastDllmQwenConfig, promptLengths: number[]): ResolvedOptions {
  const arch = cfg.architecture;
  for (const [k, why] of V1_ONLY) if (o[k] !== undefined) throw new OptionError(k, `not an option of ${arch} models (Fast-dLLM v2): ${why}`);
  if (o.cache !== undefined && o.cache !== 'none') throw new OptionError('cache', `${JSON.stringify(o.cache)} is a Fast-dLLM v1 cache; ${arch} models keep finished blocks in an exact cache (the block cache option adds a sub-block cache)`);
  const BL = cfg.blockSize;
  if (o.blockLength !== undefined && o.blockLength !== BL) throw new OptionError('blockLength', `${arch} models decode in blocks of bd_size ${BL} (config.json), got ${o.blockLength}`);
  if (!isInt(o.genLength) || o.genLength <= 0) throw new OptionError('genLength', `must be a positive integer, got ${o.genLength}`);
  const G = o.genLength;
  if (G < BL) throw new OptionError('genLength', `must be at least the block length ${BL} (whole blocks are decoded), got ${G}`);
  const smallBlock = o.smallBlock ?? 8;
  if (!isInt(smallBlock) || smallBlock <= 0 || BL % smallBlock !== 0) throw new OptionError('smallBlock', `must be a positive integer dividing the block length ${BL}, got ${smallBlock}`);
  const threshold = o.threshold ?? 0.9;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) throw new OptionError('threshold', `must be in (0, 1], got ${threshold}`);
  const temperature = o.temperature ?? 0;
  if (temperature !== 0) throw new OptionError('temperature', `${arch} models decode greedily here (temperature 0), got ${temperature}`);
  if (o.blockCache !== undefined && typeof o.blockCache !== 'boolean') throw new OptionError('blockCache', `must be true or false, got ${JSON.stringify(o.blockCache)}`);
  const id = (v: number | undefined, name: 'maskId' | 'stopId' | 'padId', fallback: number) => {
    const x = v ?? fallback;
    if (!isInt(x) || x < 0 || x >= cfg.vocabSize) throw new OptionError(name, `${x} is outside the vocabulary [0, ${cfg.vocabSize})`);
    return x;
  };
  const maskId = id(o.maskId, 'maskId', cfg.maskId), stopId = id(o.stopId, 'stopId', cfg.eosId), padId = id(o.padId, 'padId', cfg.padId);
  const seed = o.seed ?? 0;
  if (!isInt(seed)) throw new OptionError('seed', `must be an integer, got ${seed}`);
  if (promptLengths.length === 0) throw new OptionError('prompt', 'no prompt given');
  promptLengths.forEach((n, i) => {
    if (n === 0) throw new OptionError('prompt', promptLengths.length > 1 ? `prompt ${i} is empty` : 'the prompt is empty');
    const end = v2CanvasEnd(n, G, BL);
    if (end > cfg.maxSeqLen) throw new OptionError('genLength', `prompt (${n} tokens) + genLength ${G} reaches position ${end} (whole blocks of ${BL}), beyond the model's maximum of ${cfg.maxSeqLen}`);
  });
  return {
    genLength: G, blockLength: BL, steps: G, cache: 'none', threshold, factor: undefined, remasking: 'low_confidence',
    alg: 'confidence_threshold', temperature: 0, topP: 1, topK: undefined, cfgScale: 0, seed, earlyExit: o.earlyExit ?? false,
    maskId, eos: stopId, eps: 1e-3,
    // v2's rule on f32 probabilities (the routine makes the bf16 one on a bf16 model: v2Rule).
    rule: thresholdRule(threshold, 'f32', '>'),
    v2: { blockLength: BL, smallBlock, blockCache: o.blockCache ?? false, stopId, padId },
  };
}

/** Refuses Fast-dLLM v2's options on a v1 model (they would silently do nothing). */
export function refuseV2Options(o: GenerateOptions, cfg: DecoderConfig): void {
  for (const k of ['smallBlock', 'blockCache', 'stopId', 'padId'] as const) {
    if (o[k] !== undefined) throw new OptionError(k, `only Fast-dLLM v2 (Fast_dLLM_Qwen) models take it; ${cfg.architecture} does not`);
  }
}

/**
 * v2's acceptance rule (REFERENCE-V2.md 3c): every mask strictly above the threshold plus the
 * most confident, compared in the dtype of the probabilities. PyTorch rounds the Python scalar
 * to that dtype first, so in bf16 both sides are bf16 (tau 0.901 becomes 0.90234375, and a p of
 * 0.90234375 is then NOT above it).
 */
export function v2Rule(o: ResolvedOptions, dtype: 'f32' | 'bf16'): SelectionRule {
  // resolveV2Options made the f32 rule; only a bf16 model needs its own.
  return dtype === 'f32' ? o.rule : thresholdRule(o.threshold!, 'bf16', '>');
}

/** Options resolved for the model's family: v2's on a Fast-dLLM v2 model, else v1's (refusing v2's). */
export function resolveModelOptions(o: GenerateOptions, cfg: DecoderConfig, promptLengths: number[]): ResolvedOptions {
  if (isBlockDiffusion(cfg)) return resolveV2Options(o, cfg, promptLengths);
  refuseV2Options(o, cfg);
  return resolveOptions(o, cfg, promptLengths);
}
