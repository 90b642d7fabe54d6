/**
 * CPU forward throughput of a ~25M-parameter LLaDA at 256 tokens: fastdllm's generated C++
 * kernels (and the TypeScript reference, for scale) in tinybench, and PyTorch (CPU, f32) on the
 * same checkpoint in the same run when a Python with torch is found (FASTDLLM_TORCH_PYTHON, or
 * ./v/bin/python). Prints GFLOP/s, ms per forward and the ratio.
 *   npm run bench            (writes the random checkpoint once under .cache/bench)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { main as cli } from '../src/cli/main.ts';
import { loadHostModel } from '../src/runtime/model.ts';
import { forwardFull } from '../src/runtime/forward.ts';
import { graphFromConfig } from '../src/runtime/config-graph.ts';
import { numel } from '../src/util/math.ts';

const ROOT = join(import.meta.dirname, '..');
const CONFIG = join(ROOT, 'bench', 'configs', 'llada-25m.json');
const DIR = join(ROOT, '.cache', 'bench', 'llada-25m');
const T = Number(process.env.BENCH_TOKENS ?? 256);

export async function ensureCheckpoint(config = CONFIG, dir = DIR): Promise<string> {
  if (!existsSync(join(dir, 'model.safetensors'))) {
    const code = await cli(['random-checkpoint', '--config', config, '--out', dir, '--seed', '1']);
    if (code !== 0) throw new Error('random-checkpoint failed');
  }
  return dir;
}

/** FLOPs of one full forward of T tokens (matmuls + attention scores and values). */
export function forwardFlops(config: string, t: number): { flops: number; params: number } {
  const spec = graphFromConfig(config);
  const c = spec.config;
  const params = spec.weights.reduce((s, w) => s + numel(w.shape), 0);
  const matmulParams = spec.weights.filter((w) => w.shape.length === 2 && !w.name.endsWith('wte.weight')).reduce((s, w) => s + numel(w.shape), 0);
  const attn = 4 * t * t * c.nHeads * c.headDim * c.nLayers;
  return { flops: 2 * matmulParams * t + attn, params };
}

function torchPython(): string | undefined {
  const cands = [process.env.FASTDLLM_TORCH_PYTHON, join(ROOT, 'v', 'bin', 'python')].filter(Boolean) as string[];
  return cands.find((p) => {
    try {
      execFileSync(p, ['-c', 'import torch, safetensors'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = await ensureCheckpoint();
  const { flops, params } = forwardFlops(CONFIG, T);
  const native = await loadHostModel(dir, { backend: 'native' });
  const ids = [Array.from({ length: T }, (_, i) => (i * 37) % 4000)];
  const bench = new Bench({ time: 3000, warmupIterations: 2 });
  bench.add(`fastdllm native C++ forward, ${T} tokens`, () => { forwardFull(native, ids); });
  await bench.run();
  const rows: { name: string; ms: number }[] = bench.tasks.map((t) => ({ name: t.name, ms: (t.result as { latency: { p50: number } }).latency.p50 }));
  const py = torchPython();
  if (py) {
    const out = JSON.parse(execFileSync(py, [join(ROOT, 'bench', 'torch_forward.py'), dir, String(T), '20'], { encoding: 'utf8' }).trim().split('\n').pop()!);
    rows.push({ name: `PyTorch ${out.torch} CPU f32 forward (${out.threads} threads), ${T} tokens`, ms: out.ms });
  } else {
    console.log('PyTorch not found (set FASTDLLM_TORCH_PYTHON or make ./v with torch): no baseline in this run');
  }
  console.log(`model: ${(params / 1e6).toFixed(1)} M parameters (${CONFIG}), ${T} tokens, ${(flops / 1e9).toFixed(2)} GFLOP per forward`);
  for (const r of rows) console.log(`${r.name.padEnd(70)} ${r.ms.toFixed(1).padStart(8)} ms  ${(flops / r.ms / 1e6).toFixed(1).padStart(7)} GFLOP/s`);
  if (rows.length > 1) console.log(`ratio fastdllm / PyTorch time: ${(rows[0].ms / rows[rows.length - 1].ms).toFixed(2)} (below 1 = fastdllm faster)`);
}
