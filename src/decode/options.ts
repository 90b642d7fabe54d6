import type { DecoderConfig } from '../models/define.ts';
import { selectionRule, topkRule, type SelectionRule } from '../ir/select-rule.ts';

export type CacheMode = 'none' | 'prefix' | 'dual';
export type Remasking = 'low_confidence' | 'random';
export type DreamAlg = 'entropy' | 'maskgit_plus' | 'topk_margin' | 'confidence_threshold';
export const DREAM_ALGS: readonly DreamAlg[] = ['entropy', 'maskgit_plus', 'topk_margin', 'confidence_threshold'];

/** Options of generate(), named as in Fast-dLLM. */
export interface GenerateOptions {
  genLength: number;
  /** Block length; Dream without cache ignores it. Default 32 (or genLength when smaller). */
  blockLength?: number;
  /** Total denoising steps; default genLength (one token per step), as the CLI documents. */
  steps?: number;
  cache?: CacheMode;
  /** Parallel decoding: unmask every candidate with confidence >= threshold (and the best one). */
  threshold?: number;
  /** Parallel decoding by Fast-dLLM's factor rule (LLaDA only). */
  factor?: number;
  remasking?: Remasking;
  /** Dream's unmasking order. Default: confidence_threshold with a threshold, else entropy. */
  alg?: DreamAlg;
  temperature?: number;
  topP?: number;
  topK?: number;
  /** Classifier-free guidance (LLaDA, no cache). */
  cfgScale?: number;
  seed?: number;
  /** Stop a row once everything up to its first EOS is decoded (lossless; fewer forwards). */
  earlyExit?: boolean;
  maskId?: number;
  /** Dream's schedule epsilon. */
  eps?: number;
  /** Fast-dLLM v2 only (decode/v2-options.ts): sub-block length, default 8; divides the block (32). */
  smallBlock?: number;
  /** Fast-dLLM v2 only: reuse the block's K/V between sub-block steps (off by default, as published). */
  blockCache?: boolean;
  /** Fast-dLLM v2 only: the token that finishes a row; default config.json's eos_token_id. */
  stopId?: number;
  /** Fast-dLLM v2 only: what follows the first stop token; default config.json's pad_token_id. */
  padId?: number;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  genLength: number;
  blockLength: number;
  steps: number;
  cache: CacheMode;
  threshold: number | undefined;
  factor: number | undefined;
  remasking: Remasking;
  alg: DreamAlg;
  temperature: number;
  topP: number;
  topK: number | undefined;
  cfgScale: number;
  seed: number;
  earlyExit: boolean;
  maskId: number;
  eos: number;
  eps: number;
  /**
   * How each step chooses its tokens, made once here and handed to every target: LLaDA's factor,
   * threshold (compared in f64) or top-k; Dream's threshold (compared in f32) for
   * confidence_threshold, else top-k by its schedule.
   */
  rule: SelectionRule;
  /** Set for Fast-dLLM v2 models only (decode/v2-options.ts); v1 fields then describe the same decode. */
  v2?: V2Settings;
}

/** Fast-dLLM v2's own settings (REFERENCE-V2.md): block and sub-block lengths, block cache, ids. */
export interface V2Settings {
  blockLength: number;
  smallBlock: number;
  blockCache: boolean;
  stopId: number;
  padId: number;
}

/** An invalid option, named; thrown before any work. */
export class OptionError extends Error {
  constructor(readonly option: string, msg: string) {
    super(`${option}: ${msg}`);
  }
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Applies defaults and refuses invalid combinations, naming the option at fault. */
export function resolveOptions(o: GenerateOptions, cfg: DecoderConfig, promptLengths: number[]): ResolvedOptions {
  const dream = cfg.logitShift;
  if (!isInt(o.genLength) || o.genLength <= 0) throw new OptionError('genLength', `must be a positive integer, got ${o.genLength}`);
  const G = o.genLength;
  const cache = o.cache ?? 'none';
  if (!['none', 'prefix', 'dual'].includes(cache)) throw new OptionError('cache', `must be none, prefix or dual, got ${JSON.stringify(cache)}`);
  if (o.threshold !== undefined && o.factor !== undefined) throw new OptionError('threshold', 'threshold and factor are exclusive: give one');
  if (o.threshold !== undefined && !(o.threshold > 0 && o.threshold <= 1)) throw new OptionError('threshold', `must be in (0, 1], got ${o.threshold}`);
  if (o.factor !== undefined && !(o.factor > 0 && Number.isFinite(o.factor))) throw new OptionError('factor', `must be > 0, got ${o.factor}`);
  const blockLength = o.blockLength ?? Math.min(32, G);
  if (!isInt(blockLength) || blockLength <= 0) throw new OptionError('blockLength', `must be a positive integer, got ${blockLength}`);
  const usesBlocks = !dream || cache !== 'none';
  if (usesBlocks && G % blockLength !== 0) throw new OptionError('blockLength', `genLength ${G} is not a multiple of blockLength ${blockLength}`);
  const steps = o.steps ?? G;
  if (!isInt(steps) || steps <= 0) throw new OptionError('steps', `must be a positive integer, got ${steps}`);
  const nb = G / blockLength;
  if (usesBlocks && steps % nb !== 0) throw new OptionError('steps', `${steps} is not a multiple of the number of blocks ${nb} (genLength / blockLength)`);
  const remasking = o.remasking ?? 'low_confidence';
  if (remasking !== 'low_confidence' && remasking !== 'random') throw new OptionError('remasking', `must be low_confidence or random, got ${JSON.stringify(remasking)}`);
  let alg: DreamAlg = o.alg ?? (o.threshold !== undefined ? 'confidence_threshold' : 'entropy');
  if (dream) {
    if (!DREAM_ALGS.includes(alg)) throw new OptionError('alg', `unknown for ${cfg.architecture}: ${JSON.stringify(alg)} (one of ${DREAM_ALGS.join(', ')})`);
    if (o.factor !== undefined) throw new OptionError('factor', `${cfg.architecture} has no factor mode`);
    if (alg === 'confidence_threshold' && o.threshold === undefined) throw new OptionError('threshold', 'alg confidence_threshold needs a threshold');
    if (alg !== 'confidence_threshold' && o.threshold !== undefined) throw new OptionError('threshold', `alg ${alg} takes no threshold (use alg confidence_threshold)`);
    if (cache === 'none' && alg === 'confidence_threshold' && G % steps !== 0) throw new OptionError('steps', `genLength ${G} must be a multiple of steps ${steps} for confidence_threshold without cache`);
    if (remasking !== 'low_confidence' && o.remasking !== undefined) throw new OptionError('remasking', `${cfg.architecture} orders by its alg, not remasking`);
    if (o.cfgScale) throw new OptionError('cfgScale', `${cfg.architecture} has no classifier-free guidance here`);
  } else {
    if (o.alg !== undefined) throw new OptionError('alg', `${cfg.architecture} has no alg option (that is Dream's); use remasking, threshold or factor`);
    alg = 'entropy';
    if (o.topP !== undefined || o.topK !== undefined) throw new OptionError(o.topP !== undefined ? 'topP' : 'topK', `${cfg.architecture} samples with Gumbel noise only (top-p / top-k are Dream's)`);
  }
  const cfgScale = o.cfgScale ?? 0;
  if (!(cfgScale >= 0) || !Number.isFinite(cfgScale)) throw new OptionError('cfgScale', `must be >= 0, got ${cfgScale}`);
  if (cfgScale > 0 && cache !== 'none') throw new OptionError('cfgScale', 'classifier-free guidance works only with cache none');
  const temperature = o.temperature ?? 0;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new OptionError('temperature', `must be >= 0, got ${temperature}`);
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new OptionError('topP', `must be in (0, 1], got ${topP}`);
  if (o.topK !== undefined && (!isInt(o.topK) || o.topK < 1)) throw new OptionError('topK', `must be a positive integer, got ${o.topK}`);
  const maskId = o.maskId ?? cfg.maskId;
  if (!isInt(maskId) || maskId < 0 || maskId >= cfg.vocabSize) throw new OptionError('maskId', `${maskId} is outside the vocabulary [0, ${cfg.vocabSize})`);
  const seed = o.seed ?? 0;
  if (!isInt(seed)) throw new OptionError('seed', `must be an integer, got ${seed}`);
  if (promptLengths.length === 0) throw new OptionError('prompt', 'no prompt given');
  promptLengths.forEach((n, i) => {
    if (n === 0) throw new OptionError('prompt', promptLengths.length > 1 ? `prompt ${i} is empty` : 'the prompt is empty');
    if (n + G > cfg.maxSeqLen) throw new OptionError('genLength', `prompt (${n} tokens) + genLength ${G} = ${n + G} exceeds the model's maximum of ${cfg.maxSeqLen}`);
  });
  const rule = !dream ? selectionRule({ threshold: o.threshold, factor: o.factor }, 'f64')
    : alg === 'confidence_threshold' ? selectionRule({ threshold: o.threshold }, 'f32') : topkRule();
  return {
    genLength: G, blockLength, steps, cache, threshold: o.threshold, factor: o.factor, remasking, alg, temperature, topP,
    topK: o.topK, cfgScale, seed, earlyExit: o.earlyExit ?? false, maskId, eos: cfg.eosId, eps: o.eps ?? 1e-3, rule,
  };
}

/** True when the routine unmasks by threshold or factor rather than a fixed count. */
export const isParallel = (o: ResolvedOptions) => o.rule.mode !== 'topk';
