import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { bundleSource, moduleSource } from '../../src/codegen/cuda/module.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { graphFromConfig } from '../../src/runtime/config-graph.ts';
import { findNvcc, nvccCubin, type KernelResources } from '../../src/runtime/cuda/nvcc.ts';
import { CONFIG_FILES, HEAD_MODES, PRECISIONS, configKernels, configLabel } from './configs.ts';
import type { CudaKernel } from '../../src/codegen/cuda/types.ts';
import { fallbackGraph, SPLIT_SHAPE, splitKConfig, TEST_SHAPES, tinyGraph } from './gpu-helpers.ts';
import { NVCC, describeGated } from '../helpers/gates.ts';

describe('CUDA code generation (no GPU needed)', () => {
  it('is deterministic: the same IR gives byte-identical sources', () => {
    for (const file of CONFIG_FILES) {
      for (const precision of PRECISIONS) {
        for (const headOutputs of HEAD_MODES) {
          const a = planCuda(graphFromConfig(file).graph, { precision, headOutputs });
          const b = planCuda(graphFromConfig(file).graph, { precision, headOutputs });
          expect(bundleSource(b.kernels, 'x')).toBe(bundleSource(a.kernels, 'x'));
          expect(b.kernels.map((k) => (k.family === 'host' ? '' : moduleSource(k)))).toEqual(a.kernels.map((k) => (k.family === 'host' ? '' : moduleSource(k))));
          expect(JSON.stringify(b.packs)).toBe(JSON.stringify(a.packs));
        }
      }
    }
  });

  it('gives one source per kernel name, and fuses the decode step into the intended kernels', () => {
    const byName = new Map<string, string>();
    for (const file of CONFIG_FILES) {
      for (const precision of PRECISIONS) {
        for (const k of configKernels(file, precision)) {
          expect(byName.get(k.name) ?? k.shim, k.name).toBe(k.shim);
          byName.set(k.name, k.shim);
        }
        const { graph, config } = graphFromConfig(file);
        const plan = planCuda(graph, { precision, headOutputs: 'both' });
        const fams = plan.kernels.map((k) => `${k.family}:${k.fuses.join('+')}`);
        // Per layer: QKV (+norm, rope, cache write), attention, o-proj (+residual), gate/up (+norm, SwiGLU), down (+residual).
        expect(fams.filter((f) => f === 'gemm:rmsnorm+matmul+rope+cache_write')).toHaveLength(config.nLayers);
        expect(fams.filter((f) => f === 'attention:attention')).toHaveLength(config.nLayers);
        expect(fams.filter((f) => f === 'gemm:rmsnorm+matmul+silu_mul')).toHaveLength(config.nLayers);
        expect(fams.filter((f) => f === 'gemm:matmul')).toHaveLength(2 * config.nLayers);
        expect(fams.filter((f) => f === 'gemm:gather_rows+rmsnorm+matmul')).toHaveLength(1);
        expect(fams.filter((f) => f.startsWith('head_select'))).toHaveLength(1);
        // bf16 splits K where a GEMM's column tiles are fewer than the SMs (tuning.ts defaultGemmConfig):
        // each split GEMM adds its reduce kernel right after it.
        const reduces = plan.kernels.filter((k) => k.family === 'gemm_reduce').length;
        if (precision === 'f32') expect(reduces).toBe(0);
        plan.kernels.forEach((k, i) => { if (k.family === 'gemm_reduce') expect(plan.kernels[i - 1].name + '_reduce').toBe(k.name); });
        expect(plan.kernels).toHaveLength(5 * config.nLayers + 3 + reduces);
      }
    }
  });
});

/** Runs jobs `width` at a time. */
async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  }));
  return out;
}

describeGated(NVCC, 'generated CUDA compiles with nvcc, no spills', () => {
  const ARCHS = ['sm_80', 'sm_90a'];
  it(`every kernel of ${CONFIG_FILES.length} configs, f32 and bf16, for ${ARCHS.join(' and ')}`, async () => {
    // One translation unit per (precision, arch, half): all configs' distinct kernels, so the
    // fixed cost of nvcc is paid a few times; one compile per core (two in CI), at most eight.
    const jobs: { precision: string; arch: string; kernels: CudaKernel[] }[] = [];
    for (const precision of PRECISIONS) {
      const all = new Map<string, CudaKernel>();
      for (const f of CONFIG_FILES) for (const k of configKernels(f, precision)) if (k.family !== 'host') all.set(k.name, k);
      // ... and the GPU tests' graphs that reach code no real config does: K not a multiple of 8
      // (unvectorised loads) and the unfused fallback kernels.
      const testGraphs = [tinyGraph(TEST_SHAPES[1].dims), fallbackGraph(48, 3, 1, 37)];
      for (const g of testGraphs) for (const headOutputs of HEAD_MODES) for (const k of planCuda(g, { precision, headOutputs }).kernels) if (k.family !== 'host') all.set(k.name, k);
      // ... and the split-K GEMMs the tuner tries (bf16), at the real widths and in the split test shape.
      if (precision === 'bf16') {
        const graphs = [...CONFIG_FILES.filter((f) => f.includes('configs')).map((f) => graphFromConfig(f).graph), tinyGraph(SPLIT_SHAPE.dims)];
        for (const g of graphs) for (const sk of [2, 4]) for (const k of planCuda(g, { precision, headOutputs: 'x0conf', gemmConfig: splitKConfig(sk) }).kernels) if (k.family !== 'host') all.set(k.name, k);
      }
      const list = [...all.values()].sort((a, b) => a.name.localeCompare(b.name));
      const half = Math.ceil(list.length / 2);
      for (const arch of ARCHS) for (const part of [list.slice(0, half), list.slice(half)]) jobs.push({ precision, arch, kernels: part });
    }
    const width = Math.max(2, Math.min(8, availableParallelism()));
    const results = await pool(jobs.map((j, i) => () => nvccCubin(`check_${j.precision}_${j.arch}_${i}`, bundleSource(j.kernels, `nvcc check ${j.precision} ${j.arch}`), j.arch)), width);
    const res = new Map<string, KernelResources>();
    results.forEach((r, i) => { for (const [name, info] of r.resources) res.set(`${jobs[i].arch}:${name}`, info); });
    const lines: string[] = [];
    const bad: string[] = [];
    for (const f of CONFIG_FILES) {
      for (const precision of PRECISIONS) {
        for (const arch of ARCHS) {
          const ks = [...new Set(configKernels(f, precision).filter((k) => k.family !== 'host').map((k) => k.name))];
          let regs = 0, smem = 0, spill = 0;
          for (const name of ks) {
            const r = res.get(`${arch}:${name}`);
            if (!r) { bad.push(`${name} (${arch}) missing from the ptxas report`); continue; }
            regs = Math.max(regs, r.registers);
            smem = Math.max(smem, r.sharedBytes);
            spill += r.spillStores + r.spillLoads;
            if (r.spillStores || r.spillLoads) bad.push(`${name} (${arch}) spills ${r.spillStores} B stored / ${r.spillLoads} B loaded`);
          }
          lines.push(`${configLabel(f).padEnd(24)} ${precision.padEnd(4)} ${arch.padEnd(6)} ${String(ks.length).padStart(2)} kernels, max ${regs} registers, max ${smem} B shared, ${spill} B spilled`);
        }
      }
    }
    console.log(`nvcc compile check (${findNvcc()!.version}):\n${lines.join('\n')}`);
    const allNames = jobs.flatMap((j) => j.kernels.map((k) => `${j.arch}:${k.name}`));
    for (const n of allNames) {
      const r = res.get(n);
      if (!r) bad.push(`${n} missing from the ptxas report`);
      else if (r.spillStores || r.spillLoads) bad.push(`${n} spills ${r.spillStores}/${r.spillLoads} B`);
    }
    expect(bad).toEqual([]);
  }, 300_000);
});
