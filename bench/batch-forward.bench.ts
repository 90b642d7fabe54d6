/**
 * One dual-cache decoding forward of the embedded model (arith-tiny) at 1, 8 and 32 rows, as the
 * serving engine runs it: a 32-token window at cache rows [32, 64) of a 96-row cache, every
 * window row a head row (the first step of a block). Prints ms per forward (median wall time),
 * CPU ms per forward (process CPU time, all threads: on a machine shared with other jobs this
 * moves less than wall time), GFLOP/s and the speedup of a batched forward over as many
 * single-row forwards (what batching can give the server).
 *   npx tsx bench/batch-forward.bench.ts [--rows 1,8,32] [--time MS]
 */
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { DEFAULT_MODEL_DIR } from '../src/api.ts';
import { loadHostModel } from '../src/runtime/model.ts';
import { runForward } from '../src/runtime/forward.ts';
import { KvCache } from '../src/runtime/kv-cache.ts';
import { numel } from '../src/util/math.ts';

const { values: v } = parseArgs({ options: { rows: { type: 'string' }, time: { type: 'string' }, model: { type: 'string' } } });
const ROWS = (v.rows ?? '1,8,32').split(',').map(Number);
const T = 32, START = 32, KEYS = 96;

const model = await loadHostModel(v.model ?? DEFAULT_MODEL_DIR, { backend: 'native' });
const c = model.config;

/** FLOPs of one such forward per row: the GEMMs over T tokens, attention over KEYS keys, the head over T rows. */
function flopsPerRow(): number {
  const mm = model.graph.ofKind('param').filter((p) => p.shape.length === 2 && !p.attrs.name.includes('wte') && !p.attrs.name.includes('embed'))
    .reduce((s, p) => s + numel(p.shape as number[]), 0);
  return 2 * mm * T + 4 * T * KEYS * c.nHeads * c.headDim * c.nLayers;
}

function call(batch: number) {
  const ids = new Int32Array(batch * T).map((_, i) => 4 + (i * 7) % (c.vocabSize - 4));
  const positions = new Int32Array(batch * T).map((_, i) => START + (i % T));
  const keyMask = new Uint8Array(batch * KEYS).fill(1);
  const headRows = new Int32Array(batch * T).map((_, i) => i % T);
  return { batch, ids, positions, start: START, keyMask, headRows };
}

const bench = new Bench({ time: Number(v.time ?? 2000), warmupIterations: 5 });
const cpu = new Map<number, { us: number; n: number }>();
for (const b of ROWS) {
  const cache = new KvCache(c, b, KEYS), k = call(b), acc = { us: 0, n: 0 };
  cpu.set(b, acc);
  bench.add(`${b} rows`, () => {
    const u0 = process.cpuUsage();
    runForward(model, k, cache);
    const u = process.cpuUsage(u0);
    acc.us += u.user + u.system;
    acc.n++;
  });
}
await bench.run();
const flops = flopsPerRow();
const one = ROWS.includes(1) ? (bench.tasks.find((t) => t.name === '1 rows')!.result as { latency: { p50: number } }).latency.p50 : undefined;
console.log(`arith-tiny dual-cache forward: window ${T}, ${KEYS} keys, ${(flops / 1e6).toFixed(1)} MFLOP per row`);
for (const t of bench.tasks) {
  const b = Number(t.name.split(' ')[0]);
  const ms = (t.result as { latency: { p50: number } }).latency.p50;
  const gain = one ? `  ${((b * one) / ms).toFixed(2)}x ${b} single-row forwards` : '';
  const cpuMs = cpu.get(b)!.us / cpu.get(b)!.n / 1000;
  console.log(`${t.name.padEnd(8)} ${ms.toFixed(3).padStart(8)} ms  cpu ${cpuMs.toFixed(3).padStart(8)} ms  ${((b * flops) / ms / 1e6).toFixed(1).padStart(6)} GFLOP/s${gain}`);
}
