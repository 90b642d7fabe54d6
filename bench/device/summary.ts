/**
 * The short table bench/device/check.sh prints last: test counts per step (or why a step has
 * none), the step timing beside its floors and the PyTorch baseline. Reads the logs and JSON
 * files in the folder given; writes the table to summary.txt there too.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gemmConfigLabel, type CudaGemmConfig } from '../../src/codegen/cuda/tuning.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { perfModel, type GpuName } from '../../src/codegen/cuda/perf-model.ts';
import { graphFromConfig } from '../../src/runtime/config-graph.ts';

const dir = process.argv[2] ?? '.device-out';
const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
const json = (f: string) => { try { return JSON.parse(read(f)); } catch { return null; } };
const rows: [string, string][] = [];
/** A number to `d` decimals, or '?' (a missing or non-finite figure never breaks the table). */
const n = (x: unknown, d = 3) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '?');
const probe = read('probe.log');
rows.push(['device', probe.match(/^device: (.*)$/m)?.[1] ?? probe.match(/^cuda: (.*)$/m)?.[1] ?? 'unknown']);
rows.push(['driver / nvrtc', `${probe.match(/^driver: (\S+)/m)?.[1] ?? '?'} / ${probe.match(/^nvrtc: (\S+)/m)?.[1] ?? '?'}`]);
for (const [label, f] of [['kernel tests', 'vitest-kernels.log'], ['golden forward, bf16 wide', 'vitest-rest.log'], ['v2 golden, batching engine', 'vitest-v2-engine.log'], ['golden decoding', 'vitest-decode.log'], ['decoding, CUDA graphs', 'vitest-graphs.log']]) {
  const log = read(f).replace(/\x1b\[[0-9;]*m/g, '');
  const tests = log.match(/Tests\s+(.*)$/m)?.[1]?.trim();
  const skipped = /^skipped: out of time.*$/m.exec(log)?.[0];
  rows.push([label, tests ?? skipped ?? (log ? 'no result (timed out or crashed: see the log)' : 'not run')]);
}
const cli = read('cli.log').match(/^cli: (.*)$/m)?.[1];
rows.push(['CLI --device cuda', cli ?? 'not run']);
// The serve bench's table rows: "| 8 | req/s | tokens/s | x sequential | ...".
const serveLog = read('serve.log');
const served = (c: string) => serveLog.match(new RegExp(`^\\| ${c} \\| [\\d.]+ \\| ([\\d.]+) \\| ([\\d.]+) \\|`, 'm'));
const [seq, at8, at32] = [served('1 \\(sequential\\)'), served('8'), served('32')];
rows.push(['serve on the GPU (issue 11)', at8 ? `sequential ${seq?.[1] ?? '?'} tokens/s; 8 clients ${at8[1]} (${at8[2]}x), 32 clients ${at32?.[1] ?? '?'} (${at32?.[2] ?? '?'}x)` : serveLog ? 'no result (see serve.log)' : 'not run']);
const bench = json('bench.json');
const torch = (() => {
  for (const line of read('torch.log').trim().split('\n').reverse()) { try { const v = JSON.parse(line); if (v && typeof v === 'object') return v; } catch { /* not JSON */ } }
  return null;
})();
if (bench) {
  const f = bench.floors;
  rows.push(['step, logits out', `${n(bench.logits?.gpuMsMedian)} ms GPU (median of ${bench.reps}), ${n(bench.logits?.wallMsMedian)} ms run() wall${bench.emulated ? ' (EMULATED)' : ''}`]);
  rows.push(['step, x0+conf out', `${n(bench.x0conf?.gpuMsMedian)} ms GPU, ${n(bench.x0conf?.wallMsMedian)} ms run() wall`]);
  rows.push(['  as a CUDA graph', `${n(bench.x0confGraph?.gpuMsMedian)} ms GPU, ${n(bench.x0confGraph?.wallMsMedian)} ms run() wall`]);
  // Where the default step's time goes (one profiled run, each launch synchronised): the top kernels.
  const ks = (bench.x0conf?.kernels ?? []) as { name: string; ms: number }[];
  const total = ks.reduce((a, k) => a + k.ms, 0);
  // Beside each, the performance model's prediction (codegen/cuda/perf-model.ts, data-sheet peaks)
  // for the same plan and shape, summed over the kernel's launches: each GPU run calibrates it.
  const predicted = new Map<string, number>();
  let predictedStep = NaN;
  try {
    const dev = rows[0][1];
    const gpu: GpuName = /H200/i.test(dev) ? 'h200' : /A100/i.test(dev) ? 'a100' : 'h100';
    const cfg = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'configs', 'llada-8b-instruct.json');
    const plan = planCuda(graphFromConfig(cfg, { n_layers: bench.layers ?? 4 }).graph, { precision: 'bf16', headOutputs: 'x0conf' });
    const pm = perfModel(plan, plan.kernels, gpu, { batch: bench.batch ?? 1, window: bench.window ?? 32, cacheLen: bench.cacheRows ?? 288 });
    for (const k of pm.kernels) predicted.set(k.name, (predicted.get(k.name) ?? 0) + k.predictedUs / 1e3);
    predictedStep = pm.step.predictedUs / 1e3;
  } catch { /* no prediction: the table still prints */ }
  for (const k of [...ks].sort((a, b) => b.ms - a.ms).slice(0, 5)) rows.push([`  ${k.name.slice(0, 40)}`, `${n(k.ms)} ms (${n((100 * k.ms) / total, 1)}% of the profiled step); predicted ${n(predicted.get(k.name))} ms (${n(k.ms / (predicted.get(k.name) ?? NaN), 2)}x)`]);
  rows.push(['  predicted step (model)', `${n(predictedStep)} ms vs ${n(bench.x0conf?.gpuMsMedian)} ms measured (${n(bench.x0conf?.gpuMsMedian / predictedStep, 2)}x)`]);
  rows.push(['  split-K 2 / 4', `${n(bench.x0confSplit2?.gpuMsMedian)} / ${n(bench.x0confSplit4?.gpuMsMedian)} ms GPU (every GEMM but the head split)`]);
  const dec = bench.decode;
  if (dec) {
    for (const k of ['hostSelect', 'deviceSelect', 'hostSelectGraph', 'deviceSelectGraph']) {
      rows.push([`decode, ${k}`, `${n(dec[k]?.msPerStep)} ms per step (${n(dec[k]?.msMedian, 1)} ms for ${dec[k]?.nfe ?? '?'} forwards, wall)`]);
    }
    rows.push(['  device vs host select', `${n(dec.hostSelect?.msPerStep / dec.deviceSelect?.msPerStep, 2)}x; with graphs ${n(dec.hostSelectGraph?.msPerStep / dec.deviceSelectGraph?.msPerStep, 2)}x; same tokens: ${dec.sameTokens}`]);
  }
  rows.push(['floor: bytes', `${n(f?.bytes / 1e9, 2)} GB / ${n(bench.copyBandwidthGBs, 0)} GB/s = ${n(f?.bandwidthFloorMs)} ms`]);
  rows.push(['floor: FLOPs', `${n(f?.flops / 1e9, 1)} GFLOP / ${n(f?.tensorTflops, 0)} TFLOP/s = ${n(f?.computeFloorMs)} ms`]);
  rows.push(['vs floor', `${n(bench.x0conf?.gpuMsMedian / Math.max(f?.bandwidthFloorMs, f?.computeFloorMs), 2)}x the larger floor`]);
} else {
  rows.push(['step bench', 'no result (see bench.log)']);
}
rows.push(['PyTorch baseline', torch ? `${n(torch.stepMsMedian)} ms eager, ${n(torch.stepGraphMsMedian)} ms CUDA graph (torch ${torch.torch}); copy ${n(torch.copyGBs, 0)} GB/s, matmul ${n(torch.matmulTflops, 0)} TFLOP/s` : 'not run (no torch, or it failed: see torch.log)']);
const tune = json('tune.json');
if (tune?.results) {
  for (const r of tune.results as { key: string; best: CudaGemmConfig; trials: { ms: number }[]; defaultMs: number }[]) {
    rows.push([`tune ${r.key}`, `best ${gemmConfigLabel(r.best)}: ${n(r.trials[0].ms * 1e3, 1)} us vs default ${n(r.defaultMs * 1e3, 1)} us (${n(r.defaultMs / r.trials[0].ms, 2)}x)`]);
  }
} else {
  rows.push(['CUDA GEMM tuning', read('tune.log') ? 'no result (see tune.log)' : 'not run']);
}
const w = Math.max(...rows.map((r) => r[0].length));
const text = rows.map(([a, b]) => `${a.padEnd(w)}  ${b}`).join('\n') + '\n';
writeFileSync(join(dir, 'summary.txt'), text);
process.stdout.write(text);
