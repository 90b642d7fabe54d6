import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadTokenizer, StreamingDetokenizer, type TextTokenizer } from './io/tokenizer.ts';
import { loadModelOn, type LoadOptions } from './runtime/model.ts';
import type { LoadedModel } from './runtime/loaded-model.ts';
import { decodeIds, committedIds, countGenerated, type DecodeResult, type DecodeStreamEvent } from './decode/generate.ts';
import { OptionError, type GenerateOptions } from './decode/options.ts';
import { isBlockDiffusion } from './models/fast-dllm-qwen.ts';

/** The embedded default model (a tiny LLaDA trained on arithmetic word problems), shipped in the repo. */
export const DEFAULT_MODEL_DIR = resolve(import.meta.dirname, '..', 'assets', 'arith-tiny');

/** A loaded model: the executable forward plus its tokenizer (when the checkpoint has one). */
export interface Model {
  dir: string;
  host: LoadedModel;
  tokenizer: TextTokenizer | null;
}

/**
 * Loads an HF-layout checkpoint directory (config.json, safetensors, optional tokenizer.json)
 * on `options.device` ('cpu' by default; 'cuda'; or 'auto', whose choice and reason are in
 * `model.host.device`).
 */
export async function loadModel(dir: string = DEFAULT_MODEL_DIR, options: LoadOptions = {}): Promise<Model> {
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`${dir}: no config.json (not a model directory)`);
  const host = await loadModelOn(dir, options);
  return { dir, host, tokenizer: await loadTokenizer(dir) };
}

/** A prompt: text (needs a tokenizer) or token ids. */
export type Prompt = string | number[];

export interface TextOptions {
  /** Wrap text prompts in the tokenizer's chat template as one user turn. */
  chat?: boolean;
}

export interface GenerateResult extends DecodeResult {
  /** Decoded text of each row up to its first EOS (empty strings without a tokenizer). */
  text: string[];
}

/** Token ids of the prompts, through the chat template when asked. */
export function encodePrompts(model: Model, prompts: Prompt[], opts: TextOptions = {}): number[][] {
  return prompts.map((p, i) => {
    if (Array.isArray(p)) return p;
    if (!model.tokenizer) throw new OptionError('prompt', `${model.dir} has no tokenizer.json: give token ids instead of text`);
    if (p.length === 0) throw new OptionError('prompt', prompts.length > 1 ? `prompt ${i} is empty` : 'the prompt is empty');
    const text = opts.chat ? model.tokenizer.applyChatTemplate([{ role: 'user', content: p }], { addGenerationPrompt: true }) : p;
    return model.tokenizer.encode(text, { addSpecialTokens: !opts.chat });
  });
}

/** Text of a generated row: tokens up to the first `eos` (config.json's, or the row's stop id), masks dropped. */
export function decodeText(model: Model, tokens: number[], eos = model.host.config.eosId): string {
  if (!model.tokenizer) return '';
  const cfg = model.host.config;
  const end = tokens.indexOf(eos);
  const ids = (end < 0 ? tokens : tokens.slice(0, end)).filter((t) => t !== cfg.maskId);
  return model.tokenizer.decode(ids, { skipSpecialTokens: true });
}

/** Events of generateStream: decode steps, committed text, and the result. */
export type GenerateEvent =
  | Exclude<DecodeStreamEvent, { type: 'done' }>
  | { type: 'text'; row: number; text: string }
  | { type: 'done'; result: GenerateResult };

/**
 * Streams a generation: every step's decisions, then text as it becomes final (the decoded
 * prefix of a row with no mask before it, cut at the first EOS; a multi-byte character is
 * never split), then the result. One prompt or a batch. On a Fast-dLLM v2 model text is final
 * block by block: a finished block's text (its AR token included) is sent with its 'block'
 * event, before the next block's first forward, cut at the row's stop id (`stopId`).
 */
export async function* generateStream(model: Model, prompt: Prompt | Prompt[], options: GenerateOptions & TextOptions): AsyncGenerator<GenerateEvent> {
  const prompts = isBatch(prompt) ? prompt : [prompt];
  const ids = encodePrompts(model, prompts, options);
  const cfg = model.host.config;
  const maskId = options.maskId ?? cfg.maskId;
  const detok = model.tokenizer ? ids.map(() => new StreamingDetokenizer(model.tokenizer!)) : [];
  const generated = ids.map(() => [] as number[]);
  // v2: the final tokens so far (cut at the stop id), and whether the stop was reached.
  const v2 = isBlockDiffusion(cfg), stopId = v2 ? (options.stopId ?? cfg.eosId) : cfg.eosId;
  const final = ids.map(() => [] as number[]), stopped = ids.map(() => false);
  for (const ev of decodeIds(model.host, ids, options)) {
    if (ev.type === 'done') {
      const text = ev.result.tokens.map((t) => decodeText(model, t, ev.result.options.eos));
      // Whatever the streaming detokenizer still held back (a final partial character) goes out now.
      for (const [row, t] of text.entries()) {
        const sent = detok[row]?.text() ?? '';
        if (detok.length && t.startsWith(sent) && t.length > sent.length) yield { type: 'text', row, text: t.slice(sent.length) };
      }
      yield { type: 'done', result: { ...ev.result, text } };
      return;
    }
    yield ev;
    if (ev.type === 'step' && detok.length && !v2) {
      for (const r of ev.rows) {
        r.positions.forEach((p, i) => { generated[r.row][p] = r.tokens[i]; });
        const row = Array.from({ length: generated[r.row].length }, (_, p) => generated[r.row][p] ?? maskId);
        const delta = detok[r.row].push(committedIds(row, cfg.eosId, maskId));
        if (delta) yield { type: 'text', row: r.row, text: delta };
      }
    }
    if (ev.type === 'block' && ev.final && detok.length) {
      for (const f of ev.final) {
        if (stopped[f.row]) continue;
        const cut = f.tokens.indexOf(stopId);
        final[f.row].push(...(cut < 0 ? f.tokens : f.tokens.slice(0, cut)));
        stopped[f.row] = cut >= 0;
        const delta = detok[f.row].push(final[f.row].filter((t) => t !== maskId));
        if (delta) yield { type: 'text', row: f.row, text: delta };
      }
    }
    await new Promise<void>((res) => setImmediate(res));
  }
}

/** Generates for one prompt or a batch and returns tokens, text and metrics. */
export async function generate(model: Model, prompt: Prompt | Prompt[], options: GenerateOptions & TextOptions): Promise<GenerateResult> {
  for await (const ev of generateStream(model, prompt, options)) if (ev.type === 'done') return ev.result;
  throw new Error('generate ended without a result');
}

function isBatch(p: Prompt | Prompt[]): p is Prompt[] {
  return Array.isArray(p) && p.length > 0 && (typeof p[0] === 'string' || Array.isArray(p[0]));
}

export { countGenerated };
