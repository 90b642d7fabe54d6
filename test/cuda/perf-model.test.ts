import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { GPU_NAMES, GPU_SPECS, perfModel, PERF_STEP_SHAPE, type GpuName } from '../../src/codegen/cuda/perf-model.ts';
import { defaultGemmConfig, gemmConfigLabel } from '../../src/codegen/cuda/tuning.ts';
import { graphFromConfig } from '../../src/runtime/config-graph.ts';
import { decodeStepKernels } from '../../src/runtime/cuda/inspect.ts';
import { cli } from '../helpers/cli.ts';
import { FIXTURES } from '../helpers/golden.ts';

const LLADA_8B = join(FIXTURES, 'configs', 'llada-8b-instruct.json');
const DREAM_7B = join(FIXTURES, 'configs', 'dream-v0-instruct-7b.json');

function modelOf(file: string, gpu: GpuName, override: Record<string, unknown> = {}, shape = PERF_STEP_SHAPE) {
  const { graph, config } = graphFromConfig(file, override);
  const plan = planCuda(graph, { precision: 'bf16', headOutputs: 'both', sms: GPU_SPECS[gpu].sms });
  return { plan, perf: perfModel(plan, decodeStepKernels(plan, !config.logitShift), gpu, shape) };
}

describe('the CUDA performance model (no GPU)', () => {
  for (const [label, file] of [['LLaDA-8B', LLADA_8B], ['Dream-7B', DREAM_7B]] as const) {
    for (const gpu of GPU_NAMES) {
      it(`${label} on ${gpu}: the default plan moves at most 1.05x its minimum bytes, and every GEMM fills a wave`, () => {
        const { perf } = modelOf(file, gpu);
        const { step } = perf;
        expect(step.bytes).toBeLessThanOrEqual(1.05 * step.minBytes);
        expect(step.bytes).toBeGreaterThanOrEqual(step.minBytes);
        expect(step.floorUs).toBeLessThan(step.predictedUs);
        const gemms = perf.kernels.filter((k) => k.family === 'gemm');
        expect(gemms.length).toBeGreaterThan(0);
        for (const k of gemms) expect(k.ctas, k.name).toBeGreaterThanOrEqual(GPU_SPECS[gpu].sms);
        for (const k of perf.kernels) {
          expect(k.waves).toBeCloseTo(k.ctas / GPU_SPECS[gpu].sms, 9);
          expect(k.predictedUs).toBeGreaterThanOrEqual(GPU_SPECS[gpu].launchUs);
        }
        expect(step.predictedUs).toBeCloseTo(perf.kernels.reduce((s, k) => s + k.predictedUs, 0), 6);
      });
    }
  }

  it('the default tile choice depends on N, K and the SM count, never on M', () => {
    expect(gemmConfigLabel(defaultGemmConfig('bf16', false, { n: 4096, k: 4096 }, 132))).toBe('mma32x64x64s3k4');
    expect(gemmConfigLabel(defaultGemmConfig('bf16', false, { n: 4096, k: 4096 }, 108))).toBe('mma32x64x64s3k2');
    expect(gemmConfigLabel(defaultGemmConfig('bf16', false, { n: 24576, k: 4096 }, 132))).toBe('mma32x64x64s3');
    expect(gemmConfigLabel(defaultGemmConfig('bf16', true, { n: 126464, k: 4096 }, 132))).toBe('mma32x64x32s3');
    expect(gemmConfigLabel(defaultGemmConfig('f32', false, { n: 4096, k: 4096 }, 132))).toBe('simt32x64x16s1');
    // A K no split divides stays whole.
    expect(defaultGemmConfig('bf16', false, { n: 4096, k: 4096 + 32 }, 132).splitK ?? 1).toBe(1);
    // The same plan serves every batch: its GEMM grids split K alike at batch 1 and 8.
    const one = modelOf(LLADA_8B, 'h100', { n_layers: 1 });
    const eight = perfModel(one.plan, decodeStepKernels(one.plan), 'h100', { ...PERF_STEP_SHAPE, batch: 8 });
    const ctas = (p: typeof eight) => p.kernels.filter((k) => k.family === 'gemm').map((k) => k.ctas);
    expect(ctas(eight)).toEqual(ctas(one.perf).map((c) => c * 8));
  });

  it('prices the H100 run\'s step (4 layers at LLaDA-8B width, cache 288) at the byte floor that run measured against', () => {
    const plan = planCuda(graphFromConfig(LLADA_8B, { n_layers: 4 }).graph, { precision: 'bf16', headOutputs: 'x0conf' });
    const perf = perfModel(plan, plan.kernels, 'h100', { batch: 1, window: 32, cacheLen: 288 });
    // bench/NOTES.md: "Floors: 2.80 GB / 2966 GB/s measured copy = 0.944 ms".
    expect(perf.step.minBytes / 1e9).toBeCloseTo(2.80, 2);
  });

  it('fastdllm inspect --perf --json prints the schema; text names the step; --gpu is required', () => {
    const r = cli(['inspect', '--config', LLADA_8B, '--perf', '--gpu', 'h200', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { gpu: string; kernels: Record<string, unknown>[]; step: Record<string, number> };
    expect(j.gpu).toBe('h200');
    for (const k of j.kernels) for (const key of ['name', 'bytes', 'flops', 'ctas', 'waves', 'predictedUs']) expect(k).toHaveProperty(key);
    for (const key of ['bytes', 'minBytes', 'predictedUs', 'floorUs']) expect(typeof j.step[key]).toBe('number');
    expect(j.kernels[0].name).toBe('decode_window');
    const small = cli(['inspect', '--config', LLADA_8B, '--perf', '--gpu', 'a100', '--json', '--batch', '2', '--window', '16', '--cache-len', '300']);
    expect(small.code, small.stderr).toBe(0);
    expect(JSON.parse(small.stdout).step.minBytes).toBeLessThan(j.step.minBytes);
    const text = cli(['inspect', '--config', LLADA_8B, '--perf', '--gpu', 'h100']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/predicted [\d.]+ us; floor [\d.]+ us/);
    const bad = cli(['inspect', '--config', LLADA_8B, '--perf']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--gpu');
  });
});
