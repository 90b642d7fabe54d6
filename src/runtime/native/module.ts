import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { renderCpuModule, type CpuKernelSpec } from '../../codegen/cpu/render.ts';
import type { CpuTuning } from '../../codegen/cpu/tuning.ts';
import type { Graph } from '../../ir/graph.ts';

const run = promisify(execFile);

/** C++ compiler options of CPU kernels; part of the cache key. */
export const CPU_CXX_OPTIONS = ['-O3', '-march=native', '-fopenmp', '-std=c++17', '-shared', '-fPIC', '-fno-math-errno'];

/**
 * The module name of a generated CPU source: `cpu_<sha256[:12]>` of the generated text. It names
 * the dump / override file (`<name>.cpp`) and the cache entry, so it is taken before any override.
 */
export function cpuModuleName(generated: string): string {
  return `cpu_${createHash('sha256').update(generated).digest('hex').slice(0, 12)}`;
}

/** One graph's CPU module as the native backend compiles it: name, source, kernel per node, packers. */
export interface CpuModule {
  name: string;
  source: string;
  kernels: Map<number, CpuKernelSpec>;
  packs: Map<number, { name: string; length: number }>;
}

/**
 * Renders a graph's module with the GEMM configs given (a load passes this machine's `fastdllm
 * tune` file, so `inspect --device cpu` passing the same prints the source a run compiles).
 */
export function cpuModuleOf(graph: Graph, tuning: CpuTuning): CpuModule {
  const { source, kernels, packs } = renderCpuModule(graph, tuning);
  return { name: cpuModuleName(source), source, kernels, packs };
}

/**
 * Assembly of a C++ source (`<cxx> -S` with the kernels' own options), for FASTDLLM_DEBUG=5 and
 * `inspect --device cpu --emit asm`. Compiled in a temporary folder removed afterwards.
 */
export async function cxxAssembly(source: string, cxx: { path: string }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'fastdllm-asm-'));
  try {
    writeFileSync(join(dir, 'kernel.cpp'), source);
    const opts = CPU_CXX_OPTIONS.filter((o) => o !== '-shared');
    try {
      await run(cxx.path, [...opts, '-S', '-o', join(dir, 'kernel.s'), join(dir, 'kernel.cpp')], { maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`assembly of the CPU module failed (${cxx.path} -S):\n${(err.stderr ?? err.message).slice(0, 4000)}`);
    }
    return readFileSync(join(dir, 'kernel.s'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
