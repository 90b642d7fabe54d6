/**
 * Decoding routines side by side, in one run: nfe, tokens per forward, tokens/s and the speed-up
 * of each mode over the no-cache fixed-step baseline (one token per step), on a fixture-sized
 * model (golden llada_s20 / dream_s20), the ~25M-parameter LLaDA (random weights) and, when
 * present, the embedded arithmetic model. Timed with tinybench (median of repeated decodes).
 *   npx tsx bench/decode.bench.ts
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { decodeIdsToEnd, type DecodeResult } from '../src/decode/generate.ts';
import type { GenerateOptions } from '../src/decode/options.ts';
import { loadHostModel } from '../src/runtime/model.ts';
import type { LoadedModel } from '../src/runtime/loaded-model.ts';
import { ensureCheckpoint } from './forward.bench.ts';

const ROOT = join(import.meta.dirname, '..');

interface Mode { name: string; opts: Partial<GenerateOptions> }

function modes(gen: number, dream: boolean): Mode[] {
  const base = { genLength: gen, blockLength: 32 };
  const fixed = dream ? { alg: 'entropy' as const, steps: gen } : { steps: gen };
  const thr = dream ? { alg: 'confidence_threshold' as const, threshold: 0.9 } : { threshold: 0.9 };
  const list: Mode[] = [
    { name: 'baseline (no cache, 1 token/step)', opts: { ...base, ...fixed, cache: 'none' } },
    { name: '+prefix cache', opts: { ...base, ...fixed, cache: 'prefix' } },
    { name: '+dual cache', opts: { ...base, ...fixed, cache: 'dual' } },
    { name: '+parallel (threshold 0.9)', opts: { ...base, ...thr, cache: 'none', ...(dream ? { steps: gen / 8 } : {}) } },
    { name: '+prefix cache +parallel', opts: { ...base, ...thr, cache: 'prefix', steps: gen } },
    { name: '+dual cache +parallel', opts: { ...base, ...thr, cache: 'dual', steps: gen } },
  ];
  if (!dream) list.push({ name: '+dual cache +parallel (factor 1.0)', opts: { ...base, factor: 1, cache: 'dual', steps: gen } });
  return list;
}

async function benchModel(label: string, model: LoadedModel, prompt: number[], gen: number): Promise<void> {
  const bench = new Bench({ time: 1500, iterations: 3, warmupIterations: 1 });
  const results = new Map<string, DecodeResult>();
  for (const m of modes(gen, model.config.logitShift)) {
    bench.add(m.name, () => { results.set(m.name, decodeIdsToEnd(model, [prompt], m.opts as GenerateOptions)); });
  }
  await bench.run();
  console.log(`\n${label}: prompt ${prompt.length} tokens, genLength ${gen}, block 32`);
  console.log(`${'mode'.padEnd(38)} ${'nfe'.padStart(5)} ${'tok/fwd'.padStart(8)} ${'ms'.padStart(9)} ${'tok/s'.padStart(8)} ${'speed-up'.padStart(9)}`);
  let baseMs = 0;
  for (const t of bench.tasks) {
    const r = results.get(t.name)!;
    const ms = (t.result as { latency: { p50: number } }).latency.p50;
    if (!baseMs) baseMs = ms;
    const tps = (gen / ms) * 1000;
    console.log(`${t.name.padEnd(38)} ${String(r.nfe).padStart(5)} ${r.tokensPerForward.toFixed(2).padStart(8)} ${ms.toFixed(1).padStart(9)} ${tps.toFixed(0).padStart(8)} ${(baseMs / ms).toFixed(2).padStart(8)}x`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const prompt = Array.from({ length: 24 }, (_, i) => (i * 17 + 3) % 240);
  for (const name of ['llada_s20', 'dream_s20']) {
    await benchModel(`${name} (fixture)`, await loadHostModel(join(ROOT, 'test', 'fixtures', 'models', name)), prompt, 64);
  }
  await benchModel('llada-25m (random weights)', await loadHostModel(await ensureCheckpoint()), prompt, 128);
  const arith = join(ROOT, 'assets', 'arith-tiny');
  if (existsSync(join(arith, 'model.safetensors'))) {
    const { loadModel } = await import('../src/api.ts');
    const m = await loadModel(arith);
    const ids = m.tokenizer!.encode('Ana has 12 pencils. She buys 7 more pencils. How many pencils does Ana have now?');
    await benchModel('arith-tiny (embedded model)', m.host, ids, 64);
  }
  console.log('\ntok/s counts genLength tokens per decode; the speed-up is over the first row of each table, same run.');
}
