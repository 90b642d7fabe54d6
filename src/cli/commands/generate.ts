import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { badLine, readJsonLines, record } from '../jsonl.ts';
import { DEFAULT_MODEL_DIR, generateStream, loadModel, type GenerateResult, type Prompt } from '../../api.ts';
import type { GenerateOptions } from '../../decode/options.ts';
import { DEVICE_FLAGS, DEVICE_HELP, idsFlag, loadOptionsFromFlags, parseFlags, UsageError } from '../args.ts';
import { CanvasView } from '../visualize.ts';
import { V2_FLAGS, V2_HELP } from '../v2-flags.ts';
import { flagOptionsFor, givenOptions } from '../generate-options.ts';
import { readModelConfig } from '../../runtime/config-graph.ts';
import { resolveModelOptions } from '../../decode/v2-options.ts';

const HELP = `usage: fastdllm generate [PROMPT] [--model DIR] (--prompt TEXT [--chat] | --prompt-ids 1,2,3 | --batch FILE.jsonl)
         [--gen-length N] [--block-length N] [--steps N] [--cache none|prefix|dual]
         [--threshold T | --factor F] [--remasking low_confidence|random] [--cfg-scale X]
         [--alg entropy|maskgit_plus|topk_margin|confidence_threshold] [--top-p P] [--top-k K]
         [--temperature T] [--seed S] [--mask-id ID] [--early-exit] [--json] [--show-speed] [--visualize]
         [--small-block N] [--block-cache] [--stop-id ID] [--pad-id ID]   (Fast-dLLM v2 models)
         [--device cpu|cuda|auto] [--precision f32|bf16] [--backend native|reference]

Without --model, runs the embedded arithmetic model. Defaults are Fast-dLLM's: --cache dual,
--threshold 0.9 (unless --factor, --steps or a fixed-schedule --alg is given), --block-length 32,
--gen-length 64 (embedded model) or 128, --steps = --gen-length.
--json prints {"tokens":[[...]],"text":[...],"nfe":N,"tokensPerForward":x,"tokensPerSecond":y}.
${V2_HELP}${DEVICE_HELP}
`;

const FLAGS = {
  model: { type: 'string' }, prompt: { type: 'string' }, 'prompt-ids': { type: 'string' }, chat: { type: 'boolean' }, batch: { type: 'string' },
  'gen-length': { type: 'string' }, 'block-length': { type: 'string' }, steps: { type: 'string' }, cache: { type: 'string' },
  threshold: { type: 'string' }, factor: { type: 'string' }, remasking: { type: 'string' }, 'cfg-scale': { type: 'string' },
  alg: { type: 'string' }, 'top-p': { type: 'string' }, 'top-k': { type: 'string' }, temperature: { type: 'string' }, seed: { type: 'string' },
  'mask-id': { type: 'string' }, 'early-exit': { type: 'boolean' }, json: { type: 'boolean' }, 'show-speed': { type: 'boolean' },
  visualize: { type: 'boolean' }, ...V2_FLAGS, ...DEVICE_FLAGS, help: { type: 'boolean', short: 'h' },
} as const;

/** Reads --batch FILE.jsonl: one {"prompt": "..."} or {"promptIds": [...]} per line. */
function readBatch(file: string): Prompt[] {
  return readJsonLines<Prompt>(file, '--batch', (v) => {
    const r = v as { prompt?: unknown; promptIds?: unknown } | null;
    if (typeof r?.prompt === 'string') return record(r.prompt);
    if (Array.isArray(r?.promptIds) && r.promptIds.every((x) => Number.isInteger(x))) return record(r.promptIds as number[]);
    return badLine('needs "prompt" (text) or "promptIds" (integers)');
  });
}

export async function generateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, FLAGS, true);
  if (values.help) { process.stdout.write(HELP); return 0; }
  const sources = [values.prompt !== undefined || positionals.length > 0, values['prompt-ids'] !== undefined, values.batch !== undefined].filter(Boolean).length;
  if (sources === 0) throw new UsageError('give a prompt: PROMPT, --prompt TEXT, --prompt-ids 1,2,3 or --batch FILE.jsonl');
  if (sources > 1 || positionals.length > 1 || (positionals.length && values.prompt !== undefined)) throw new UsageError('give exactly one of PROMPT, --prompt, --prompt-ids, --batch');
  givenOptions(values); // every flag parsed and checked before any work
  const prompts: Prompt[] = values.batch ? readBatch(values.batch)
    : values['prompt-ids'] !== undefined ? [idsFlag(values['prompt-ids'], '--prompt-ids')]
    : [values.prompt ?? positionals[0]];
  const load = loadOptionsFromFlags(values);
  // The options against the model's config.json before its weights load (a bad value, or one the
  // model's family does not take, is refused naming its flag); text prompts count as one token here.
  const dir = values.model ?? DEFAULT_MODEL_DIR;
  let opts: GenerateOptions | undefined;
  if (existsSync(join(dir, 'config.json'))) { // else loadModel says it is not a model directory
    const { config } = readModelConfig(dir);
    opts = flagOptionsFor(config, values, !values.model);
    resolveModelOptions(opts, config, prompts.map((p) => (typeof p === 'string' ? 1 : p.length)));
  }
  const model = await loadModel(dir, load);
  opts ??= flagOptionsFor(model.host.config, values, !values.model);
  if (load.device === 'auto' && !values.json) process.stderr.write(`device: ${model.host.device?.device} [${model.host.backend}] ${model.host.device?.reason}\n`);
  const view = values.visualize ? new CanvasView(model, prompts.length, opts.genLength) : undefined;
  const streamText = !values.json && !view && prompts.length === 1 && !!model.tokenizer;
  let result: GenerateResult | undefined;
  // The embedded model was trained on its chat format (Question: ... Answer:), so it is the default there.
  const chat = values.chat ?? !values.model;
  for await (const ev of generateStream(model, prompts.length === 1 ? prompts[0] : prompts, { ...opts, chat })) {
    if (ev.type === 'text' && streamText) process.stdout.write(ev.text);
    else if (ev.type === 'step' && view) view.step(ev);
    else if (ev.type === 'done') result = ev.result;
  }
  if (!result) throw new Error('generation produced no result');
  if (values.json) {
    process.stdout.write(JSON.stringify({ tokens: result.tokens, text: result.text, nfe: result.nfe, tokensPerForward: result.tokensPerForward, tokensPerSecond: result.tokensPerSecond }) + '\n');
    return 0;
  }
  if (streamText) process.stdout.write('\n');
  else if (model.tokenizer) result.text.forEach((t, i) => process.stdout.write(prompts.length > 1 ? `[${i}] ${t}\n` : `${t}\n`));
  else result.tokens.forEach((t, i) => process.stdout.write(prompts.length > 1 ? `[${i}] ${t.join(',')}\n` : `${t.join(',')}\n`));
  if (values['show-speed'] || !values.model) {
    const o = result.options;
    const mode = o.threshold !== undefined ? `threshold ${o.threshold}` : o.factor !== undefined ? `factor ${o.factor}` : `${o.steps} steps`;
    const kinds = Object.entries(result.timeByKind).filter(([, k]) => k.count).map(([n, k]) => `${n} ${(k.ms / k.count).toFixed(1)} ms x${k.count}`).join(', ');
    const how = o.v2 ? `v2, sub-block ${o.v2.smallBlock}${o.v2.blockCache ? ', block cache' : ''}` : `${o.cache} cache`;
    process.stderr.write(`[${how}, ${mode}, block ${o.blockLength}] ${result.generatedTokens} tokens, nfe ${result.nfe}, ${result.tokensPerForward.toFixed(2)} tokens/forward, ${result.tokensPerSecond.toFixed(1)} tokens/s (${(result.wallMs / 1000).toFixed(2)} s; per step: ${kinds})\n`);
  }
  return 0;
}
