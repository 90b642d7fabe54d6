/**
 * Fast-dLLM v2 at a real size on this machine: a random-weight checkpoint at the 1.5B shape
 * (write it first, under /tmp: it is ~3 GB in bf16)
 *   fastdllm random-checkpoint --config test/fixtures/configs/fast-dllm-v2-1.5b.json --out /tmp/v2-1.5b --dtype bf16
 * then one decode without and one with the block cache (same prompt, short generation), each
 * reporting nfe, forwards by kind, wall time, generated tokens/s and memory (RSS after loading,
 * peak RSS). One untimed 32-token forward first (the weights' first touch); then one run per
 * mode, not a median: a 1.5B forward takes a second on a 2-core CPU. The 1-minute load average
 * is printed after each mode: other jobs on the machine show there.
 *   npx tsx bench/v2.bench.ts [--model DIR] [--prompt N] [--gen N] [--threshold T]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { forwardFull } from '../src/runtime/forward.ts';
import { decodeIdsToEnd } from '../src/decode/generate.ts';
import { loadHostModel } from '../src/runtime/model.ts';

const { values: a } = parseArgs({ options: {
  model: { type: 'string', default: '/tmp/v2-1.5b' },
  prompt: { type: 'string', default: '40' },
  gen: { type: 'string', default: '32' },
  threshold: { type: 'string', default: '0.9' },
} });
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

const t0 = performance.now();
const model = await loadHostModel(a.model);
const cfg = model.config;
console.log(`${a.model}: ${cfg.architecture}, ${cfg.nLayers} layers, d ${cfg.dModel}, vocab ${cfg.vocabSize}; loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s, RSS ${gib(process.memoryUsage().rss)}`);
const prompt = Array.from({ length: Number(a.prompt) }, (_, i) => (i * 7919 + 11) % 150000);
const gen = Number(a.gen);
forwardFull(model, [prompt.slice(0, 32)]);
console.log(`prompt ${prompt.length} tokens, genLength ${gen}, threshold ${a.threshold}, small block 8`);
console.log(`${'mode'.padEnd(16)} ${'nfe'.padStart(4)} ${'forwards by kind'.padEnd(44)} ${'wall s'.padStart(7)} ${'tok/s'.padStart(6)} ${'peak RSS'.padStart(9)}`);
for (const blockCache of [false, true]) {
  const r = decodeIdsToEnd(model, [prompt], { genLength: gen, threshold: Number(a.threshold), blockCache });
  const kinds = Object.entries(r.timeByKind).map(([k, t]) => `${k} ${t!.count}x${(t!.ms / t!.count / 1000).toFixed(2)}s`).join(', ');
  const peak = process.resourceUsage().maxRSS * 1024;
  const tokens = r.tokens[0].length;
  console.log(`${(blockCache ? 'block cache' : 'no block cache').padEnd(16)} ${String(r.nfe).padStart(4)} ${kinds.padEnd(44)} ${(r.wallMs / 1000).toFixed(1).padStart(7)} ${(tokens / (r.wallMs / 1000)).toFixed(2).padStart(6)} ${gib(peak).padStart(9)}  (load ${loadavg()[0].toFixed(1)})`);
}
