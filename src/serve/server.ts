import { basename } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Model } from '../api.ts';
import { handleGeneration, type GenerationContext } from './generation.ts';
import { ServeMetrics } from './metrics.ts';
import { apiError, validationError } from './openai.ts';
import { CHAT_SCHEMA, COMPLETION_SCHEMA } from './request.ts';
import type { Scheduler } from './job.ts';
import { localScheduler } from './schedulers.ts';
import { autoWorkers, WorkerPoolScheduler } from './worker-pool.ts';

/** How the server runs; every limit has a default. */
export interface ServeOptions {
  /** Rows sharing one forward at most (default 16). */
  maxBatch?: number;
  /** Requests waiting to start at most; one more is a 429 (default 256). */
  maxQueue?: number;
  /** Batches decoding at once (default 4); a request that cannot join a running batch of its options waits. */
  maxRunning?: number;
  /** Request body bytes at most (default 256 KiB; more is a 413). */
  bodyLimit?: number;
  /** Prompt tokens at most (default: half the model's maximum sequence length). */
  maxPromptTokens?: number;
  /** Generation length at most, after rounding up to whole blocks (default: the rest of the sequence). */
  maxGenTokens?: number;
  /** max_tokens when a request gives none (default 64). */
  defaultMaxTokens?: number;
  /** Per-request timeout in ms (default 120 000; 0: none). */
  timeoutMs?: number;
  /** The name /v1/models lists (default: the model directory's name). */
  modelName?: string;
  /**
   * Decode in this many worker threads, each with its own copy of the model and its share of the
   * cores (CPU only; worker-pool.ts); 0 decodes in the server's thread; 'auto' is one per core for
   * a small CPU model, else 0 (`autoWorkers`). Default 0 here; the CLI's default is 'auto'.
   */
  workers?: number | 'auto';
  /** Replaces the batch scheduler (tests, a stronger engine). */
  scheduler?: Scheduler;
}

/** A built server: the fastify app plus what tests and the CLI look at. */
export interface Server {
  app: FastifyInstance;
  metrics: ServeMetrics;
  scheduler: Scheduler;
  /** Resolves when requests can be decoded (pool workers have loaded the model); listen after it. */
  ready: Promise<void>;
  /** Stops accepting, lets what is in flight finish, then closes. */
  shutdown(): Promise<void>;
}

/** Builds the OpenAI-compatible server for a loaded model (not yet listening). */
export function createServer(model: Model, o: ServeOptions = {}): Server {
  const cfg = model.host.config;
  const metrics = new ServeMetrics();
  const limits = { maxBatch: o.maxBatch ?? 16, maxQueue: o.maxQueue ?? 256, maxRunning: o.maxRunning ?? 4 };
  const workers = o.workers === 'auto' ? autoWorkers(model.host) : o.workers ?? 0;
  const scheduler = o.scheduler ?? (workers > 0 ? new WorkerPoolScheduler(model.host, workers, limits, metrics) : localScheduler(model.host, limits, metrics));
  const maxPromptTokens = o.maxPromptTokens ?? Math.floor(cfg.maxSeqLen / 2);
  const ctx: GenerationContext = {
    model, scheduler, metrics, modelName: o.modelName ?? basename(model.dir), timeoutMs: o.timeoutMs ?? 120_000,
    limits: { maxPromptTokens, maxGenTokens: o.maxGenTokens ?? cfg.maxSeqLen - maxPromptTokens, defaultMaxTokens: o.defaultMaxTokens ?? 64 },
  };
  // Strict types: "12" is not an integer here (fastify coerces by default).
  // return503OnClosing off: a request that arrives while the server drains (on a kept-alive
  // connection) gets the 503 below, in OpenAI's error shape, rather than fastify's own body.
  const app = Fastify({ bodyLimit: o.bodyLimit ?? 256 * 1024, return503OnClosing: false, ajv: { customOptions: { coerceTypes: false, allErrors: false } } });
  let closing = false;
  app.addHook('onRequest', async (req, reply) => {
    if (!closing || req.url === '/health') return;
    const e = apiError(503, 'the server is shutting down: it finishes the requests it has and takes no new ones', 'shutting_down', null);
    return reply.code(503).header('connection', 'close').send(e.body);
  });

  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation) {
      const e = validationError(err.validation);
      return reply.code(e.status).send(e.body);
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const e = apiError(status, err.message, err.code ?? null, null);
    return reply.code(e.status).send(e.body);
  });
  app.setNotFoundHandler((req, reply) => {
    const e = apiError(404, `no route ${req.method} ${req.url}`, 'not_found', null);
    return reply.code(404).send(e.body);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.countRequest(routeName(req.routeOptions.url), reply.statusCode);
  });

  app.get('/health', async (_req, reply) => (closing ? reply.code(503).send({ status: 'closing' }) : { status: 'ok' }));
  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: ctx.modelName, object: 'model', created: 0, owned_by: 'fastdllm' }] }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4').send(metrics.render()));
  app.post('/v1/completions', { schema: { body: COMPLETION_SCHEMA } }, (req, reply) => handleGeneration(ctx, 'completion', req, reply));
  app.post('/v1/chat/completions', { schema: { body: CHAT_SCHEMA } }, (req, reply) => handleGeneration(ctx, 'chat', req, reply));

  return {
    app, metrics, scheduler, ready: scheduler.ready ?? Promise.resolve(),
    async shutdown() {
      closing = true;
      // close() stops accepting at once and waits for open requests (streams included). A
      // keep-alive connection that finishes its request afterwards would hold the close for
      // fastify's 72 s keep-alive timeout, so idle ones are closed as they appear.
      const reap = setInterval(() => app.server.closeIdleConnections(), 50);
      try {
        await Promise.all([app.close(), scheduler.drain()]);
      } finally {
        clearInterval(reap);
      }
      await scheduler.close?.();
    },
  };
}

/** Metric label of a route (unknown paths share one label, so a scan cannot grow the metrics). */
function routeName(url: string | undefined): string {
  switch (url) {
    case '/v1/completions': return 'completion';
    case '/v1/chat/completions': return 'chat';
    case '/health': case '/v1/models': case '/metrics': return url.slice(url.lastIndexOf('/') + 1);
    default: return 'other';
  }
}
