/**
 * The server under load: requests/s, completion tokens/s and p50 / p99 latency with 1 (sequential
 * requests), 8 and 32 concurrent clients, each client sending its next request when its last is
 * answered; the ratio to sequential; and how many rows the batches had. The clients run in a
 * child process (bench/serve-clients.mjs), as real clients do: their fetch and JSON work does not
 * share the server's event loop (until 2026-12 it did, which charged it to the server; `--same-process` still does).
 *   npx tsx bench/serve.bench.ts [--model DIR] [--device cpu|cuda|auto] [--requests N] [--max-tokens N] [--max-batch N] [--max-running N] [--rounds N] [--same-process] [--workers N|auto]
 */
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import { DEFAULT_MODEL_DIR, loadModel } from '../src/api.ts';
import { createServer } from '../src/serve/server.ts';
import { WorkerPoolScheduler } from '../src/serve/worker-pool.ts';

const { values: v } = parseArgs({
  options: { model: { type: 'string' }, device: { type: 'string' }, requests: { type: 'string' }, 'max-tokens': { type: 'string' }, 'max-batch': { type: 'string' }, 'max-running': { type: 'string' }, rounds: { type: 'string' }, 'same-process': { type: 'boolean' }, workers: { type: 'string' } },
});
// 960 requests per run: steady state. At 96 (the default until 2026-11-30) a run lasted under a second,
// and its start (JIT, buffers) and its tail (fewer clients than requested still waiting) moved the ratios by ~0.3.
const REQUESTS = Number(v.requests ?? 960);
const MAX_TOKENS = Number(v['max-tokens'] ?? 32);

const PROMPTS = Array.from({ length: 24 }, (_, i) => [
  `Question: Tom has ${i + 3} apples and buys ${i % 7 + 2} more. How many apples does he have?\nAnswer:`,
  `Question: Ann has ${2 * i + 11} pens and gives away ${i + 1}. How many pens are left?\nAnswer:`,
  `Question: A box holds ${i % 9 + 2} eggs. How many eggs are in ${i % 4 + 2} boxes?\nAnswer:`,
][i % 3]);

const model = await loadModel(v.model ?? DEFAULT_MODEL_DIR, { device: (v.device as 'cpu' | 'cuda' | 'auto' | undefined) ?? 'cpu' });
const server = createServer(model, {
  maxBatch: Number(v['max-batch'] ?? 16), maxRunning: Number(v['max-running'] ?? 4), maxQueue: 1024,
  workers: v.workers === undefined || v.workers === 'auto' ? 'auto' : Number(v.workers),
});
await server.ready;
const base = await server.app.listen({ host: '127.0.0.1', port: 0 });

interface Run {
  clients: number; wallS: number; tokens: number; lat: number[]; batch: number[];
  /** Server side over the run (from its metrics): forwards, rows they carried, ms in forwards + selection, process CPU ms. */
  fwd?: number; rows?: number; fwdMs?: number; cpuMs?: number;
  /** The clients' process CPU over the run (with --same-process: included in cpuMs instead). */
  clientCpuMs?: number;
}

// @ts-expect-error: plain JavaScript, so that the child needs no TypeScript loader
const { runClients } = await import('./serve-clients.mjs') as { runClients(m: object): Promise<Run & { error?: string }> };
const child = v['same-process'] ? undefined : fork(new URL('./serve-clients.mjs', import.meta.url), [], { execArgv: [] });
/** One run of `clients` concurrent clients over REQUESTS requests, timed where the clients run. */
async function load(clients: number): Promise<Run> {
  const mt = server.metrics, f0 = mt.nfe, r0 = mt.rowForwards, ms0 = mt.stepMs.sum, c0 = process.cpuUsage();
  const r = await clientRun(clients);
  const c = process.cpuUsage(c0);
  return { ...r, fwd: mt.nfe - f0, rows: mt.rowForwards - r0, fwdMs: mt.stepMs.sum - ms0, cpuMs: (c.user + c.system) / 1000 };
}

function clientRun(clients: number): Promise<Run> {
  const m = { base, clients, requests: REQUESTS, prompts: PROMPTS, maxTokens: MAX_TOKENS };
  if (!child) return runClients(m).then((r) => { if (r.error) throw new Error(r.error); return r; });
  return new Promise((res, rej) => {
    child.once('message', (m: Run & { error?: string }) => (m.error ? rej(new Error(m.error)) : res(m)));
    child.send(m);
  });
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
child?.disconnect();
await server.shutdown();

const seq = runs[0];
console.log(`model ${model.dir} on ${model.host.device?.device ?? 'cpu'} [${model.host.backend}], ${server.scheduler instanceof WorkerPoolScheduler ? server.scheduler.size : 0} pool workers, ${REQUESTS} requests per run, median of ${ROUNDS} rounds, max_tokens ${MAX_TOKENS} (dual cache, threshold 0.9)`);
console.log('| clients | req/s | tokens/s | x sequential | p50 ms | p99 ms | rows per batch (requests: n) |');
console.log('|---|---|---|---|---|---|---|');
const server_: string[] = [];
for (const r of runs) {
  const hist = new Map<number, number>();
  for (const b of r.batch) hist.set(b, (hist.get(b) ?? 0) + 1);
  const dist = [...hist].sort((a, b) => a[0] - b[0]).map(([b, n]) => `${b}: ${n}`).join(', ');
  const tps = r.tokens / r.wallS;
  const clientMs = child ? r.clientCpuMs ?? 0 : 0;
  server_.push(`| ${r.clients} | ${r.fwd} | ${(r.rows! / r.fwd!).toFixed(2)} | ${(r.fwdMs! / r.fwd!).toFixed(2)} | ${(r.fwdMs! / REQUESTS).toFixed(2)} | ${(r.cpuMs! / REQUESTS).toFixed(2)} | ${(clientMs / REQUESTS).toFixed(2)} | ${((r.cpuMs! + clientMs) / (r.wallS * 1000)).toFixed(2)} |`);
  console.log(`| ${r.clients === 1 ? '1 (sequential)' : r.clients} | ${(REQUESTS / r.wallS).toFixed(1)} | ${tps.toFixed(0)} | ${(tps / (seq.tokens / seq.wallS)).toFixed(2)} | ${pct(r.lat, 0.5).toFixed(1)} | ${pct(r.lat, 0.99).toFixed(1)} | ${dist} |`);
}
// Where a request's time goes (same runs): forwards with selection (wall ms, summed over pool
// workers), server CPU (all its threads) and the clients' CPU per request, and how many cores the
// two processes kept busy (CPU / wall): at 2.0 a 2-core machine has nothing left to give.
console.log('\n| clients | forwards | rows per forward | ms per forward | forward ms per request | server CPU ms per request | client CPU ms per request | cores busy |');
console.log('|---|---|---|---|---|---|---|---|');
for (const l of server_) console.log(l);
