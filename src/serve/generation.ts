import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { countGenerated, type Model } from '../api.ts';
import { OptionError } from '../decode/options.ts';
import type { ServeMetrics } from './metrics.ts';
import { apiError, type ApiError } from './openai.ts';
import { decodeOptions, fieldOf, stopStrings, type RequestBody, type RequestLimits } from './request.ts';
import { RowText } from './row-text.ts';
import { QueueFullError, TimeoutError, type JobHandle, type Scheduler, type StepInfo } from './job.ts';

/** What a generation route needs from the server. */
export interface GenerationContext {
  model: Model;
  modelName: string;
  scheduler: Scheduler;
  metrics: ServeMetrics;
  limits: RequestLimits;
  /** Per-request timeout in ms (0: none). */
  timeoutMs: number;
}

type Kind = 'completion' | 'chat';

/** Token ids of a request's prompt: text, ids, or chat messages through the model's template. */
function promptIds(ctx: GenerationContext, kind: Kind, b: RequestBody): number[] {
  const tok = ctx.model.tokenizer;
  if (Array.isArray(b.prompt)) return b.prompt;
  if (!tok) throw new OptionError(kind === 'chat' ? 'messages' : 'prompt', `${ctx.modelName} has no tokenizer: give token ids as the prompt`);
  if (kind === 'chat') return tok.encode(tok.applyChatTemplate(b.messages!, { addGenerationPrompt: true }), { addSpecialTokens: false });
  return tok.encode(b.prompt!, { addSpecialTokens: true });
}

/**
 * Handles POST /v1/completions and /v1/chat/completions: validates what the schema cannot,
 * queues the row, and answers in OpenAI's shape, whole or as server-sent events.
 */
export async function handleGeneration(ctx: GenerationContext, kind: Kind, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> {
  const b = req.body as RequestBody;
  const t0 = performance.now();
  const cfg = ctx.model.host.config;
  let ids: number[], options;
  try {
    ids = promptIds(ctx, kind, b);
    const field = kind === 'chat' ? 'messages' : 'prompt';
    if (ids.length === 0) throw new OptionError(field, 'the prompt is empty');
    if (ids.length > ctx.limits.maxPromptTokens) throw new OptionError(field, `the prompt has ${ids.length} tokens; this server takes at most ${ctx.limits.maxPromptTokens}`);
    const bad = ids.find((t) => t >= cfg.vocabSize);
    if (bad !== undefined) throw new OptionError(field, `token id ${bad} is outside the vocabulary [0, ${cfg.vocabSize})`);
    options = decodeOptions(b, ctx.limits, cfg);
  } catch (e) {
    return sendError(reply, optionError(e));
  }
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const stream = !!b.stream;
  const denoise = !!b.stream_options?.denoise;
  const text = new RowText(ctx.model, stopStrings(b));
  let firstToken = false;
  const ttft = () => {
    if (!firstToken) { firstToken = true; ctx.metrics.ttftMs.observe(performance.now() - t0); }
  };
  const base = { id, created, model: ctx.modelName };
  const chunk = (delta: string, finish: string | null, extra: object = {}) => kind === 'chat'
    ? { ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: delta || finish ? { content: delta } : {}, finish_reason: finish }], ...extra }
    : { ...base, object: 'text_completion', choices: [{ index: 0, text: delta, finish_reason: finish, logprobs: null }], ...extra };
  const write = (obj: unknown) => { if (!reply.raw.destroyed) reply.raw.write(`data: ${JSON.stringify(obj)}\n\n`); };
  let handle: JobHandle | undefined;
  let settled = false;
  let resolveDone!: () => void;
  const done = new Promise<void>((res) => { resolveDone = res; });
  const settle = () => { settled = true; resolveDone(); };

  const onFinal = (canvas: readonly number[], info: StepInfo) => {
    if (settled) return;
    const rest = text.finish(canvas);
    ttft();
    const eosHit = canvas.includes(cfg.eosId);
    const finish = text.stopped || eosHit ? 'stop' : 'length';
    const completion = countGenerated([...canvas], cfg.eosId, cfg.maskId);
    const usage = { prompt_tokens: ids.length, completion_tokens: completion, total_tokens: ids.length + completion };
    ctx.metrics.countCompletion(completion);
    const fd = { fastdllm: { nfe: info.nfe, batch_size: info.batchSize, gen_length: options.genLength } };
    if (stream) {
      if (rest) write(chunk(rest, null));
      write(chunk('', finish));
      if (b.stream_options?.include_usage) write({ ...chunk('', null), choices: [], usage, ...fd });
      reply.raw.end('data: [DONE]\n\n');
    } else {
      const choice = kind === 'chat'
        ? { index: 0, message: { role: 'assistant', content: text.text() }, finish_reason: finish, logprobs: null }
        : { index: 0, text: text.text(), finish_reason: finish, logprobs: null };
      void reply.code(200).send({ ...base, object: kind === 'chat' ? 'chat.completion' : 'text_completion', choices: [choice], usage, ...fd });
    }
    settle();
  };
  const listener = {
    onStep(canvas: readonly number[], info: StepInfo) {
      if (settled) return;
      const delta = text.update(canvas);
      if (delta) ttft();
      if (stream) {
        if (delta) write(chunk(delta, null));
        if (denoise) write(chunk('', null, { denoise: { nfe: info.nfe, canvas: canvas.map((t) => (t === cfg.maskId ? null : ctx.model.tokenizer?.decode([t]) ?? t)) } }));
      }
      // A stop string ends the answer here; the row's batch goes on without it.
      if (text.stopped) { handle?.cancel(); onFinal(canvas, info); }
    },
    onFinal,
    onError(err: Error) {
      if (settled) return;
      const e = err instanceof TimeoutError ? apiError(504, err.message, 'timeout', null) : apiError(500, err.message, 'server_error', null);
      if (stream) {
        write({ error: e.body.error });
        reply.raw.end('data: [DONE]\n\n');
      } else void sendError(reply, e);
      settle();
    },
  };
  try {
    // A plain answer without stop strings needs only the final text: no work per step.
    const steps = stream || stopStrings(b).length > 0;
    handle = ctx.scheduler.submit({ ids, options, listener, deadline: ctx.timeoutMs ? t0 + ctx.timeoutMs : undefined, steps });
  } catch (e) {
    if (e instanceof QueueFullError) {
      reply.header('retry-after', '1');
      return sendError(reply, apiError(429, e.message, 'rate_limit_exceeded', null));
    }
    return sendError(reply, optionError(e));
  }
  if (stream) {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    if (kind === 'chat') write({ ...base, object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
  }
  // A client that goes away is dropped at the next step; the rest of its batch goes on.
  reply.raw.on('close', () => {
    if (!settled) { handle?.cancel(); settle(); ctx.metrics.disconnects++; }
  });
  await done;
}

function optionError(e: unknown): ApiError {
  if (e instanceof OptionError) {
    const field = fieldOf(e.option);
    return apiError(400, `${field}: ${e.message.slice(e.option.length + 2)}`, 'invalid_value', field);
  }
  throw e;
}

function sendError(reply: FastifyReply, e: ApiError): FastifyReply {
  return reply.code(e.status).send(e.body);
}
