/**
 * The server under load: requests/s, completion tokens/s and p50 / p99 latency with 1 (sequential
 * requests), 8 and 32 concurrent clients, each client sending its next request when its last is
 * answered; the ratio to sequential; and how many rows the batches had. In one process (server
 * and clients share the event loop, as a client library would on the same box).
 *   npx tsx bench/serve.bench.ts [--model DIR] [--device cpu|cuda|auto] [--requests N] [--max-tokens N] [--max-batch N] [--max-running N] [--rounds N]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIR, loadModel } from '../src/api.ts';
import { createServer } from '../src/serve/server.ts';

const { values: v } = parseArgs({
  options: { model: { type: 'string' }, device: { type: 'string' }, requests: { type: 'string' }, 'max-tokens': { type: 'string' }, 'max-batch': { type: 'string' }, 'max-running': { type: 'string' }, rounds: { type: 'string' } },
});
const REQUESTS = Number(v.requests ?? 96);
const MAX_TOKENS = Number(v['max-tokens'] ?? 32);

const PROMPTS = Array.from({ length: 24 }, (_, i) => [
  `Question: Tom has ${i + 3} apples and buys ${i % 7 + 2} more. How many apples does he have?\nAnswer:`,
  `Question: Ann has ${2 * i + 11} pens and gives away ${i + 1}. How many pens are left?\nAnswer:`,
  `Question: A box holds ${i % 9 + 2} eggs. How many eggs are in ${i % 4 + 2} boxes?\nAnswer:`,
][i % 3]);

const model = await loadModel(v.model ?? DEFAULT_MODEL_DIR, { device: (v.device as 'cpu' | 'cuda' | 'auto' | undefined) ?? 'cpu' });
const server = createServer(model, {
  maxBatch: Number(v['max-batch'] ?? 16), maxRunning: Number(v['max-running'] ?? 4), maxQueue: 1024,
});
const base = await server.app.listen({ host: '127.0.0.1', port: 0 });

interface Run { clients: number; wallS: number; tokens: number; lat: number[]; batch: number[] }

async function load(clients: number): Promise<Run> {
  let next = 0, tokens = 0;
  const lat: number[] = [], batch: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = next++; i < REQUESTS; i = next++) {
      const t = performance.now();
      const r = await fetch(`${base}/v1/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt: PROMPTS[i % PROMPTS.length], max_tokens: MAX_TOKENS }),
      });
      const body = await r.json() as { usage: { completion_tokens: number }; fastdllm: { batch_size: number } };
      if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(body)}`);
      lat.push(performance.now() - t);
      tokens += body.usage.completion_tokens;
      batch.push(body.fastdllm.batch_size);
    }
  }));
  return { clients, wallS: (performance.now() - t0) / 1000, tokens, lat, batch };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

await load(4); // warm up: JIT, kernels, connections
// Rounds interleave the settings and each row reports its median round by tokens/s, so that a
// burst of other work on the machine does not land on one setting only.
const ROUNDS = Number(v.rounds ?? 3);
const all: Run[][] = [[], [], []];
for (let k = 0; k < ROUNDS; k++) for (const [i, c] of [1, 8, 32].entries()) all[i].push(await load(c));
const runs = all.map((rs) => [...rs].sort((a, b) => a.tokens / a.wallS - b.tokens / b.wallS)[Math.floor(rs.length / 2)]);
await server.shutdown();

const seq = runs[0];
console.log(`model ${model.dir} on ${model.host.device?.device ?? 'cpu'} [${model.host.backend}], ${REQUESTS} requests per run, median of ${ROUNDS} rounds, max_tokens ${MAX_TOKENS} (dual cache, threshold 0.9)`);
console.log('| clients | req/s | tokens/s | x sequential | p50 ms | p99 ms | rows per batch (requests: n) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of runs) {
  const hist = new Map<number, number>();
  for (const b of r.batch) hist.set(b, (hist.get(b) ?? 0) + 1);
  const dist = [...hist].sort((a, b) => a[0] - b[0]).map(([b, n]) => `${b}: ${n}`).join(', ');
  const tps = r.tokens / r.wallS;
  console.log(`| ${r.clients === 1 ? '1 (sequential)' : r.clients} | ${(REQUESTS / r.wallS).toFixed(1)} | ${tps.toFixed(0)} | ${(tps / (seq.tokens / seq.wallS)).toFixed(2)} | ${pct(r.lat, 0.5).toFixed(1)} | ${pct(r.lat, 0.99).toFixed(1)} | ${dist} |`);
}
