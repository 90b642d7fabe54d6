import OpenAI from 'openai';
import { loadModel, type Model } from '../../src/api.ts';
import { createServer, type Server, type ServeOptions } from '../../src/serve/server.ts';
import type { GenerateOptions } from '../../src/decode/options.ts';

/** A server on a loopback port with the embedded model, and an OpenAI client for it. */
export interface Running {
  server: Server;
  base: string;
  client: OpenAI;
  model: Model;
}

let shared: Promise<Model> | undefined;

/** The embedded model on the CPU, loaded once per test file. */
export function embeddedModel(): Promise<Model> {
  return (shared ??= loadModel(undefined, { device: 'cpu' }));
}

/** Starts a server on 127.0.0.1, port 0 (the OS picks one). */
export async function startServer(opts: ServeOptions = {}): Promise<Running> {
  const model = await embeddedModel();
  const server = createServer(model, opts);
  await server.ready;
  const base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  // No retries: a 429 or a 5xx must reach the test as it is.
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 30_000 });
  return { server, base, client, model };
}

/** POSTs a raw body (for what the OpenAI client would refuse to send). */
export async function postRaw(base: string, path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; json: any; headers: Headers }> {
  const r = await fetch(`${base}${path}`, { method: 'POST', body, headers });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, json, headers: r.headers };
}

/** One value of the Prometheus text (first line starting with `series`). */
export async function metric(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no metric ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

/** Prompts of the embedded arithmetic model, of different lengths. */
export const PROMPTS = [
  'Question: Tom has 3 apples and buys 4 more. How many apples does he have?\nAnswer:',
  'What is 2+2?',
  'Question: Ann has 12 pens and gives away 5. How many pens are left?\nAnswer:',
  'Question: 7 times 6?\nAnswer:',
  'Question: A box holds 9 eggs. How many eggs are in 3 boxes?\nAnswer:',
  'Sam reads 14 pages a day for 3 days.',
];

/** Request fields and the generate() options they mean (max_tokens 32 = one block of 32). */
export const SETTINGS: { body: Record<string, unknown>; opts: GenerateOptions }[] = [
  { body: {}, opts: { genLength: 32, blockLength: 32, cache: 'dual', threshold: 0.9 } },
  { body: { cache: 'prefix', factor: 1, block_length: 16 }, opts: { genLength: 32, blockLength: 16, cache: 'prefix', factor: 1 } },
  { body: { cache: 'none', steps: 16 }, opts: { genLength: 32, blockLength: 32, cache: 'none', steps: 16 } },
  { body: { temperature: 0.8, seed: 5, steps: 32 }, opts: { genLength: 32, blockLength: 32, cache: 'dual', steps: 32, temperature: 0.8, seed: 5 } },
  { body: { early_exit: true, threshold: 0.7 }, opts: { genLength: 32, blockLength: 32, cache: 'dual', threshold: 0.7, earlyExit: true } },
];

/** A plain completion of 32 tokens unless the body says otherwise. */
export const completion = (s: Running, body: Record<string, unknown>, signal?: AbortSignal) =>
  s.client.completions.create({ model: 'x', max_tokens: 32, ...body } as any, { signal }) as Promise<any>;

/**
 * A request that runs long whatever the machine's load: one block of 256 decided in random order
 * (seeded, so the same every run), so its text before the first EOS is final only after ~120 full
 * forwards of a 265-token canvas (~1 s here). With confidence order a short answer is final
 * after a few steps, which made tests that need a request in flight race it. Its key (cache none,
 * block 256) is no other request's here, so nothing joins its batch.
 */
export const LONG_BODY = { max_tokens: 256, steps: 256, block_length: 256, cache: 'none', remasking: 'random' } as const;
/** LONG_BODY as generate() options. */
export const LONG_OPTS: GenerateOptions = { genLength: 256, blockLength: 256, steps: 256, cache: 'none', remasking: 'random' };
