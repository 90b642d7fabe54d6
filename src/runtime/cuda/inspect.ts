import { bundleSource, moduleSource } from '../../codegen/cuda/module.ts';
import type { CudaKernel, CudaPlan } from '../../codegen/cuda/types.ts';
import { resolveShape, type DimBindings } from '../../ir/shape.ts';
import { numel } from '../../util/math.ts';
import { KernelCache } from '../kernel-cache.ts';
import { loadNvrtc } from '../ffi/nvrtc.ts';
import { nvrtcCompile, nvrtcPtx } from './compile.ts';
import { evalInt } from '../../codegen/cuda/types.ts';
import { cuobjdumpSass, findNvcc, nvccCubin, nvccPtxText, parsePtxasInfo, type KernelResources } from './nvcc.ts';

/** One row of `fastdllm inspect`: a distinct kernel of the decode step and what it costs. */
export interface KernelReport {
  name: string;
  fuses: string[];
  grid: [number, number, number];
  block: [number, number, number];
  registers: number;
  sharedBytes: number;
  spillStores: number;
  spillLoads: number;
  /** Launches per forward (e.g. one per layer). */
  launches: number;
}

/** The typical decode-step shape inspect reports grids for: batch 1, window 32, cache 256, 32 head rows. */
export const DECODE_STEP_DIMS: DimBindings = { B: 1, T: 32, K: 256, Kmax: 256, R: 32 };

/**
 * Every kernel a decode step launches, in order: the canvas window (when the step selects on the
 * device: `deviceStep`, LLaDA's greedy steps), the forward's kernels, then the selection.
 */
export function decodeStepKernels(plan: CudaPlan, deviceStep = true): CudaKernel[] {
  if (!deviceStep) return plan.kernels;
  const win = plan.stepKernels.filter((k) => k.family === 'decode_window');
  return [...win, ...plan.kernels, ...plan.stepKernels.filter((k) => !win.includes(k))];
}

/** Grid of a kernel at the given symbolic dims. */
export function gridAt(plan: CudaPlan, k: CudaKernel, dims: DimBindings): [number, number, number] {
  const g = plan.graph;
  const d = { shape: (id: number) => resolveShape(g.node(id).shape, dims), scalar: () => 0 };
  return k.grid.map((e) => evalInt(e, d)) as [number, number, number];
}

/**
 * Registers, shared memory and spills of every device kernel of a plan for `arch`: nvcc
 * (-Xptxas -v) when it exists, else NVRTC with ptxas's verbose report. Cached like any compile.
 */
export async function kernelResources(plan: CudaPlan, arch: string, cache = new KernelCache()): Promise<Map<string, KernelResources>> {
  const dev = decodeStepKernels(plan).filter((k) => k.family !== 'host');
  const source = bundleSource(dev, `inspect ${arch}`);
  if (findNvcc()) return (await nvccCubin(`inspect_${plan.precision}`, source, arch, cache)).resources;
  const lib = loadNvrtc();
  const r = await nvrtcCompile(lib, 'inspect', source, ['--std=c++17', `--gpu-architecture=${arch}`, '--ptxas-options=-v'], true);
  if (!r.ok) throw new Error(`NVRTC compile for inspect failed:\n${r.log}`);
  return parsePtxasInfo(r.log);
}

/** The rows of inspect's listing: distinct kernels in launch order. */
export async function inspectPlan(plan: CudaPlan, arch: string, dims: DimBindings = DECODE_STEP_DIMS, deviceStep = true): Promise<KernelReport[]> {
  const res = await kernelResources(plan, arch);
  const rows = new Map<string, KernelReport>();
  for (const k of decodeStepKernels(plan, deviceStep)) {
    const have = rows.get(k.name);
    if (have) { have.launches++; continue; }
    const r = res.get(k.name);
    rows.set(k.name, {
      name: k.name, fuses: k.fuses, grid: k.family === 'host' ? [0, 0, 0] : gridAt(plan, k, dims), block: k.block,
      registers: r?.registers ?? 0, sharedBytes: r?.sharedBytes ?? 0, spillStores: r?.spillStores ?? 0, spillLoads: r?.spillLoads ?? 0, launches: 1,
    });
  }
  return [...rows.values()];
}

/** The fused IR a kernel covers, one node per line. */
export function kernelIr(plan: CudaPlan, k: CudaKernel): string {
  const g = plan.graph;
  return k.nodes.slice().sort((a, b) => a - b).map((id) => {
    const n = g.node(id);
    const attrs = Object.keys(n.attrs).length ? ' ' + JSON.stringify(n.attrs) : '';
    return `%${id} = ${n.op}(${n.inputs.map((i) => `%${i}:${g.node(i).op}`).join(', ')})${attrs} : ${n.dtype}[${n.shape.join(', ')}] (${plan.storage.get(id) ?? 'not stored'})`;
  }).join('\n') + '\n';
}

/** PTX of one kernel's module for `arch` (nvcc -ptx, else NVRTC). */
export async function kernelPtx(k: CudaKernel, arch: string): Promise<string> {
  const src = moduleSource(k);
  if (findNvcc()) return nvccPtxText(src, arch);
  return nvrtcPtx(k.name, src, Number(arch.slice(3).replace(/[a-z]$/, '')));
}

/** SASS of one kernel (nvcc cubin, then cuobjdump -sass). */
export async function kernelSass(k: CudaKernel, arch: string): Promise<string> {
  const r = await nvccCubin(k.name, moduleSource(k), arch);
  return cuobjdumpSass(r.cubinPath, k.name);
}

export { numel };
