import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCudaExecutor } from '../../src/runtime/cuda/executor.ts';
import { graphFromConfig } from '../../src/runtime/config-graph.ts';
import { tuneCudaGemms } from '../../src/runtime/cuda/tuner.ts';
import { cudaTuningFile, loadCudaTuning, saveCudaTuning } from '../../src/runtime/cuda/tuning-file.ts';
import { numel } from '../../src/util/math.ts';
import { cli } from '../helpers/cli.ts';
import { itGated, NO_GPU } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';
import { EmulatedDevice } from './emulated-device.ts';

/**
 * The CUDA GEMM tuner on an emulated device whose launch times follow a made-up cost model
 * (the GPU's own times come from `fastdllm tune --device cuda` on a GPU): it must time every
 * config on every GEMM it fits, pick the cheapest per shape, save them, and a model loaded
 * afterwards must be generated with them.
 */
describe('CUDA GEMM tuning (emulated device)', () => {
  it('times every config per GEMM shape, keeps the fastest, and plans with the saved choice', async () => {
    const { graph, config } = graphFromConfig(modelDir('llada_s20'));
    const fetched = new Map<string, number>();
    const weights = (n: string, shape: number[]) => {
      fetched.set(n, (fetched.get(n) ?? 0) + 1);
      return new Float32Array(numel(shape)).fill(0.01);
    };
    const dev = new EmulatedDevice();
    // Made-up costs: 32x64x32 in 4 stages is fastest for the head, in 2 stages for the rest.
    dev.cost = (name) => {
      if (!name.startsWith('gemm_')) return 1;
      const head = name.includes('gather');
      const want = head ? 'mma32x64x32s4' : 'mma32x64x32s2';
      return name.includes(want) ? 1 : 2 + (name.length % 7);
    };
    const results = await tuneCudaGemms({ graph, config, weights }, { precision: 'bf16', reps: 2, rows: [8, 24], cacheRows: 24, context: dev.context, compile: false, onExecutor: (plan) => dev.registerPlan(plan) });
    expect(results.length).toBeGreaterThanOrEqual(4); // QKV, o-proj, gate/up, down, head
    for (const r of results) {
      expect(r.trials.length, r.key).toBeGreaterThanOrEqual(6);
      expect(r.best, r.key).toMatchObject(r.head ? { bm: 32, bk: 32, stages: 4 } : { bm: 32, bk: 32, stages: 2 });
      expect(r.trials[0].ms).toBe(2); // 1 per window size, summed
      expect(r.defaultMs).toBeGreaterThan(2);
    }
    expect(results.filter((r) => r.head)).toHaveLength(1);
    // Weights are packed once for all configs (the executors share the packs).
    expect([...fetched.values()].every((c) => c === 1)).toBe(true);
    // Split-K is in the space wherever K allows it (never the head).
    expect(results.filter((r) => !r.head).every((r) => r.trials.some((t) => (t.config.splitK ?? 1) > 1))).toBe(true);
    expect(results.filter((r) => r.head).every((r) => r.trials.every((t) => (t.config.splitK ?? 1) === 1))).toBe(true);

    // --space split: the default tiles and the split-K configs only.
    const short = await tuneCudaGemms({ graph, config, weights }, { precision: 'bf16', reps: 1, rows: [8], cacheRows: 8, space: 'split', context: dev.context, compile: false, onExecutor: (plan) => dev.registerPlan(plan) });
    for (const r of short) {
      // The two default tiles (the head's fits the other GEMMs too), and split-K where K allows it.
      const defaults = r.trials.filter((t) => (t.config.splitK ?? 1) === 1);
      expect(defaults.every((t) => t.config.bm === 32 && t.config.stages === 3), r.key).toBe(true);
      expect(r.trials.length, r.key).toBe(r.head ? 1 : r.k % 256 === 0 ? 6 : 4); // 4 splits of 64 need K % 256 == 0
    }

    const file = join(mkdtempSync(join(tmpdir(), 'fastdllm-tune-')), 'cuda.json');
    saveCudaTuning(results, dev.info, file);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.keys(saved.gemm).sort()).toEqual(results.map((r) => r.key).sort());
    const ex = await createCudaExecutor(graph, weights, { precision: 'bf16', headOutputs: 'x0conf', context: dev.context, compile: false, gemmConfig: loadCudaTuning(file) });
    const names = ex.plan.kernels.filter((k) => k.family === 'gemm').map((k) => k.name);
    expect(names.filter((n) => n.includes('gather'))).toEqual([expect.stringContaining('mma32x64x32s4')]);
    expect(names.filter((n) => !n.includes('gather')).every((n) => n.includes('mma32x64x32s2'))).toBe(true);
    ex.dispose();

    // A damaged file is ignored with a warning naming it; a config outside the space is dropped.
    writeFileSync(file, '{"gemm": {"n64_k64": {"core": "mma", "bm": 48, "bn": 64, "bk": 32, "stages": 2}}}');
    expect(loadCudaTuning(file)!({ n: 64, k: 64 }, false)).toBeUndefined();
    writeFileSync(file, '{ not json');
    expect(loadCudaTuning(file)).toBeUndefined();
    expect(cudaTuningFile({ name: 'NVIDIA H100 80GB HBM3', arch: 'sm_90' }, 'bf16')).toMatch(/tune\/cuda-nvidia-h100-80gb-hbm3-sm_90-bf16\.json$/);
  }, 120_000);

  itGated(NO_GPU, 'the CLI says why it cannot tune without a GPU, and refuses GPU flags on the CPU tuner', () => {
    const r = cli(['tune', '--device', 'cuda', '--model', modelDir('llada_s20')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--device cuda: no usable CUDA GPU/);
    const bad = cli(['tune', '--model', modelDir('llada_s20'), '--precision', 'bf16']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--precision applies to --device cuda only');
    const rows = cli(['tune', '--device', 'cuda', '--model', modelDir('llada_s20'), '--rows', '32,400']);
    expect(rows.code).toBe(2);
    expect(rows.stderr).toContain('--rows 400 exceeds --cache-rows 288');
  });
});
