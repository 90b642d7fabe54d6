import { availableParallelism } from 'node:os';
import { DEFAULT_MODEL_DIR, loadModel } from '../../api.ts';
import { createServer } from '../../serve/server.ts';
import { WorkerPoolScheduler } from '../../serve/worker-pool.ts';
import { DEVICE_FLAGS, DEVICE_HELP, intFlag, loadOptionsFromFlags, parseFlags, UsageError } from '../args.ts';

const HELP = `usage: fastdllm serve [--model DIR] [--host 127.0.0.1] [--port 8000] [--max-batch N] [--max-queue N]
         [--max-running N] [--workers N|auto] [--max-prompt-tokens N] [--max-gen-tokens N] [--timeout-ms MS] [--body-limit BYTES]
         [--device cpu|cuda|auto] [--precision f32|bf16] [--backend native|reference]

An OpenAI-compatible server: POST /v1/completions, POST /v1/chat/completions, GET /v1/models,
GET /health, GET /metrics (Prometheus). Requests are batched continuously: a request joins a
running batch of the same cache mode, block length and head mode at its next step (next block
with a KV cache); other options may differ per row (Fast-dLLM v2 models: batches of identical
options). Each answer is what the request gets alone. Without --model, serves the embedded model.
Defaults: --max-batch 16, --max-queue 256 (one more is a 429), --max-running 4 batches at once,
--max-prompt-tokens half the model's context, --max-gen-tokens the rest, --timeout-ms 120000,
--body-limit 262144 (256 KiB; larger is a 413).
--workers: decode in N worker threads, each with its own copy of the model, its own batches and
its share of the CPU threads (0: in the server's thread). Default auto: one per core for a small
model on the CPU (under 256 MiB of f32 weights; the embedded model), else 0 (a GPU, a big model).
SIGTERM / SIGINT: stop accepting, finish what is in flight, exit.
${DEVICE_HELP}
`;

const FLAGS = {
  model: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, 'max-batch': { type: 'string' }, 'max-queue': { type: 'string' },
  'max-running': { type: 'string' }, 'max-prompt-tokens': { type: 'string' }, 'max-gen-tokens': { type: 'string' }, 'timeout-ms': { type: 'string' },
  'body-limit': { type: 'string' }, workers: { type: 'string' }, ...DEVICE_FLAGS, help: { type: 'boolean', short: 'h' },
} as const;

/** `fastdllm serve`: runs until SIGTERM / SIGINT, then drains and returns 0. */
export async function serveCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseFlags(argv, FLAGS, true);
  if (v.help) { process.stdout.write(HELP); return 0; }
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const port = intFlag(v.port, '--port', { min: 0 }) ?? 8000;
  if (port > 65535) throw new UsageError(`--port: must be <= 65535, got ${port}`);
  const opts = {
    maxBatch: intFlag(v['max-batch'], '--max-batch', { min: 1 }),
    maxQueue: intFlag(v['max-queue'], '--max-queue', { min: 0 }),
    maxRunning: intFlag(v['max-running'], '--max-running', { min: 1 }),
    maxPromptTokens: intFlag(v['max-prompt-tokens'], '--max-prompt-tokens', { min: 1 }),
    maxGenTokens: intFlag(v['max-gen-tokens'], '--max-gen-tokens', { min: 1 }),
    timeoutMs: intFlag(v['timeout-ms'], '--timeout-ms', { min: 0 }),
    bodyLimit: intFlag(v['body-limit'], '--body-limit', { min: 1 }),
    workers: v.workers === undefined || v.workers === 'auto' ? 'auto' as const : intFlag(v.workers, '--workers', { min: 0 }),
  };
  const load = loadOptionsFromFlags(v);
  const model = await loadModel(v.model ?? DEFAULT_MODEL_DIR, load);
  if (load.device === 'auto') process.stderr.write(`device: ${model.host.device?.device} [${model.host.backend}] ${model.host.device?.reason}\n`);
  const cores = availableParallelism();
  if (typeof opts.workers === 'number' && opts.workers > cores) process.stderr.write(`fastdllm serve: --workers ${opts.workers} is more than the ${cores} cores here: the workers will share them (each runs one kernel thread)\n`);
  const server = createServer(model, opts);
  await server.ready;
  const address = await server.app.listen({ host: v.host ?? '127.0.0.1', port });
  const workers = server.scheduler instanceof WorkerPoolScheduler ? ` (${server.scheduler.size} worker threads)` : '';
  process.stdout.write(`fastdllm serve: ${model.dir} listening on ${address}${workers}\n`);
  await new Promise<void>((res) => {
    const stop = (sig: string) => {
      process.stderr.write(`fastdllm serve: ${sig}: finishing requests in flight\n`);
      res();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await server.shutdown();
  process.stderr.write('fastdllm serve: stopped\n');
  return 0;
}
