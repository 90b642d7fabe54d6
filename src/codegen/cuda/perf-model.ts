/**
 * A performance model of a CUDA plan that runs without a GPU (`fastdllm inspect --perf`): for
 * every kernel of a decode step, the bytes it moves and the FLOPs it does (from its tile plan),
 * its CTAs and waves on a given GPU, and a roofline time. Pure: plan and shape in, numbers out.
 *
 * Byte rule (`bytes`, what HBM is predicted to move). A GEMM's weight counts once per row tile of
 * its grid (grid.y: the row tiles of one column tile are grid.x CTAs apart, and at large M they
 * are not resident together). Attention's K and V count once per kv head: its row blocks of one
 * kv head (grid.x, adjacent CTAs of one wave) walk the same chunks in the same order, so all but
 * the first read hit L2; `tileBytes` counts them too (every read the tile plan makes). Activations
 * (the step's [rows, width] values, at most a few MB) count once per kernel that reads them and
 * once per kernel that writes them (several CTAs re-reading the same rows hit L2). Split-K's
 * partial sums count when written and again when the reduce reads them back.
 *
 * Time rule. predictedUs = max(bytes / (BW x u), flops / (rate x u)) + launchUs, with u =
 * min(1, CTAs / SMs) (a kernel with fewer CTAs than SMs gets that share of the machine), rate the
 * bf16 tensor-core rate for the mma GEMMs and the f32 CUDA-core rate for everything else. The
 * constants are the data-sheet peaks below: measured rates are lower (one H100 run measured 2966
 * GB/s copy and 733 TFLOP/s bf16 matmul, bench/NOTES.md), and a GPU run calibrates them.
 */
import { resolveShape, type DimBindings } from '../../ir/shape.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import { numel } from '../../util/math.ts';
import type { GemmDesc } from './gemm.ts';
import { DEVICE_BYTES, evalInt, packBytes, type CudaKernel, type CudaPlan, type IntExpr } from './types.ts';

export type GpuName = 'h100' | 'h200' | 'a100';

/** A GPU as the model sees it: SM count, HBM bandwidth, peak rates, and a per-launch cost. */
export interface GpuSpec {
  label: string;
  sms: number;
  /** HBM bandwidth, GB/s (1e9 bytes per second). */
  bandwidthGBs: number;
  /** Dense bf16 tensor-core rate, TFLOP/s (no sparsity). */
  tensorTflops: number;
  /** f32 CUDA-core (FMA) rate, TFLOP/s. */
  simtTflops: number;
  /** Cost added to every launch, microseconds (an assumption until a GPU run measures it). */
  launchUs: number;
  source: string;
}

/**
 * Data-sheet figures (NVIDIA's H100, H200 and A100 datasheets; SXM parts): H100 SXM5 80GB 3.35
 * TB/s HBM3, 989 TFLOP/s dense bf16, 67 TFLOP/s f32, 132 SMs; H200 SXM 141GB 4.8 TB/s HBM3e, the
 * same H100 die (132 SMs, 989 / 67); A100 SXM4 80GB 2.039 TB/s HBM2e, 312 TFLOP/s bf16, 19.5
 * TFLOP/s f32, 108 SMs. The launch cost (2 us, a stream launch gap without a CUDA graph) is
 * assumed, not measured.
 */
export const GPU_SPECS: Record<GpuName, GpuSpec> = {
  h100: { label: 'NVIDIA H100 SXM5 80GB', sms: 132, bandwidthGBs: 3350, tensorTflops: 989, simtTflops: 67, launchUs: 2, source: 'H100 datasheet (SXM5)' },
  h200: { label: 'NVIDIA H200 SXM 141GB', sms: 132, bandwidthGBs: 4800, tensorTflops: 989, simtTflops: 67, launchUs: 2, source: 'H200 datasheet (SXM)' },
  a100: { label: 'NVIDIA A100 SXM4 80GB', sms: 108, bandwidthGBs: 2039, tensorTflops: 312, simtTflops: 19.5, launchUs: 2, source: 'A100 datasheet (SXM4 80GB)' },
};

export const GPU_NAMES = Object.keys(GPU_SPECS) as GpuName[];

/** The decode step the model prices: batch rows, window rows, cache rows (prompt + generated). */
export interface PerfShape {
  batch: number;
  window: number;
  cacheLen: number;
}

/** Issue 10's step: the dual-cache step of batch 1, window 32, cache of a 512-token prompt plus 256 generated. */
export const PERF_STEP_SHAPE: PerfShape = { batch: 1, window: 32, cacheLen: 512 + 256 };

/** The graph's dims for a step shape: the head runs on every window row. */
function perfDims(s: PerfShape): DimBindings {
  return { B: s.batch, T: s.window, K: s.cacheLen, Kmax: s.cacheLen, R: s.window };
}

export interface KernelPerf {
  name: string;
  family: string;
  bytes: number;
  /** Every read the tile plan makes, L2 hits included (differs from bytes for attention's K/V). */
  tileBytes: number;
  flops: number;
  ctas: number;
  waves: number;
  predictedUs: number;
}

export interface StepPerf {
  bytes: number;
  tileBytes: number;
  /** Every weight and the KV cache read once, the window's K/V written once, the step's inputs and outputs. */
  minBytes: number;
  flops: number;
  predictedUs: number;
  /** max(minBytes / bandwidth, flops / tensor rate), no launches. */
  floorUs: number;
  launches: number;
}

export interface PerfReport {
  gpu: GpuName;
  kernels: KernelPerf[];
  step: StepPerf;
}

/** Bytes and FLOPs of one launch, by the rule in the file comment. */
interface Cost { read: number; write: number; flops: number; tensor: boolean; l2?: number }

/**
 * Prices every launch of a decode step (`kernels`: runtime/cuda/inspect.ts's decodeStepKernels
 * order, host kernels skipped) on `gpu` at `shape`.
 */
export function perfModel(plan: CudaPlan, kernels: CudaKernel[], gpuName: GpuName, shape: PerfShape = PERF_STEP_SHAPE): PerfReport {
  const gpu = GPU_SPECS[gpuName];
  const g = plan.graph;
  const dims = perfDims(shape);
  const shapeOf = (id: number) => resolveShape(g.node(id).shape, dims);
  // Scalars (the cache start) do not change what a launch moves: price them as 0.
  const ev = (e: IntExpr) => evalInt(e, { shape: shapeOf, scalar: () => 0 });
  const store = (id: number) => DEVICE_BYTES[plan.storage.get(plan.aliases.get(id) ?? id) ?? plan.storage.get(id) ?? 'f32'];
  const valueBytes = (id: number) => numel(shapeOf(id)) * store(id);
  const packs = new Map(plan.packs.map((p) => [p.key, p]));
  const bytesOfPack = (key: string) => packBytes(packs.get(key)!);
  const weightKeys = (k: CudaKernel) => k.params.flatMap((p) => (p.k === 'weight' ? [p.pack] : []));

  const out: KernelPerf[] = [];
  let flopsTotal = 0;
  for (const k of kernels) {
    if (k.family === 'host') continue;
    const grid = k.grid.map(ev);
    const ctas = grid[0] * grid[1] * grid[2];
    const c = cost(k, grid);
    const bytes = c.read + c.write;
    const u = Math.min(1, ctas / gpu.sms);
    const memUs = (bytes / (gpu.bandwidthGBs * 1e9 * u)) * 1e6;
    const compUs = (c.flops / ((c.tensor ? gpu.tensorTflops : gpu.simtTflops) * 1e12 * u)) * 1e6;
    flopsTotal += c.flops;
    out.push({ name: k.name, family: k.family, bytes, tileBytes: bytes + (c.l2 ?? 0), flops: c.flops, ctas, waves: ctas / gpu.sms, predictedUs: Math.max(memUs, compUs) + gpu.launchUs });
  }

  function cost(k: CudaKernel, grid: number[]): Cost {
    const pv = (i: number) => k.params[i];
    switch (k.family) {
      case 'gemm':
      case 'gemm_reduce': {
        const d = k.meta as unknown as GemmDesc & { tiles: number };
        const M = ev((pv(12) as { e: IntExpr }).e);
        const split = d.cfg.splitK ?? 1;
        const rowTiles = Math.ceil(M / d.cfg.bm);
        const wb = DEVICE_BYTES[d.precision];
        const segs = d.epi.kind === 'seg' ? d.epi.segs : [];
        const rope = segs.find((s) => s.rope)?.rope;
        // The epilogue's inputs and outputs (the reduce runs it under split-K).
        const epiRead = (d.bias ? d.n * 4 : 0) + (d.res ? M * d.n * 4 : 0) + (rope ? M * 4 + M * rope.headDim * 4 : 0);
        const epiWrite = d.epi.kind === 'seg' ? segs.reduce((s, x) => s + M * x.width * DEVICE_BYTES[x.out], 0)
          : d.epi.kind === 'glu' ? M * (d.n / 2) * DEVICE_BYTES[d.epi.out]
            : (d.epi.writeLogits ? M * d.n * 4 : 0) + M * d.tiles * 16;
        const partials = split > 1 ? split * M * (d.n + (d.norm ? 1 : 0)) * 4 : 0;
        if (k.family === 'gemm_reduce') return { read: partials + epiRead, write: epiWrite, flops: split * M * d.n, tensor: false };
        const read = M * d.k * DEVICE_BYTES[d.a] + (d.gather ? M * 4 : 0) + (d.norm ? d.k * 4 : 0) + d.n * d.k * wb * rowTiles
          + (split > 1 ? 0 : epiRead);
        return { read, write: split > 1 ? partials : epiWrite, flops: 2 * M * d.n * d.k, tensor: d.cfg.core === 'mma' };
      }
      case 'attention': {
        const a = k.meta as { heads: number; kvHeads: number; headDim: number; q: keyof typeof DEVICE_BYTES; cache: keyof typeof DEVICE_BYTES; out: keyof typeof DEVICE_BYTES };
        const [q, , , mask] = k.params.slice(0, 4).map((p) => (p as { id: number }).id);
        const [B, T] = shapeOf(q);
        const K = shapeOf(mask)[1];
        const rowBlocks = grid[0];
        const kv = 2 * B * K * a.kvHeads * a.headDim * DEVICE_BYTES[a.cache];
        const read = B * T * a.heads * a.headDim * DEVICE_BYTES[a.q] + kv + B * K;
        return { read, write: B * T * a.heads * a.headDim * DEVICE_BYTES[a.out], flops: 4 * B * T * a.heads * K * a.headDim, tensor: false, l2: (rowBlocks - 1) * kv };
      }
      case 'embed': {
        const m = k.meta as { width: number; table: keyof typeof DEVICE_BYTES };
        const M = ev((pv(3) as { e: IntExpr }).e);
        return { read: M * 4 + M * m.width * DEVICE_BYTES[m.table], write: M * m.width * 4, flops: 0, tensor: false };
      }
      case 'head_select': {
        const tiles = (k.meta as { tiles: number }).tiles;
        const M = ev((pv(2) as { e: IntExpr }).e);
        return { read: M * tiles * 16, write: M * 12, flops: 0, tensor: false };
      }
      case 'decode_window':
      case 'select_scatter': {
        // Token ids of the window in and out; x0 (i32) and confidence (f64) per head row, the record.
        const rows = shape.batch * shape.window;
        return k.family === 'decode_window'
          ? { read: rows * 4, write: rows * 4, flops: 0, tensor: false }
          : { read: rows * 12, write: rows * 8, flops: 0, tensor: false };
      }
      case 'copy_rows': {
        // A cache write moves the window's rows, not the whole cache.
        const m = k.meta as { mode: string };
        const src = k.reads[0];
        const moved = m.mode === 'cache_write' ? numel(shapeOf(src)) : numel(shapeOf(k.writes[0]));
        return { read: numel(shapeOf(src)) * store(src), write: moved * store(k.writes[0]), flops: 0, tensor: false };
      }
      default: {
        const read = k.reads.reduce((s, id) => s + valueBytes(id), 0) + weightKeys(k).reduce((s, w) => s + bytesOfPack(w), 0);
        const write = k.writes.reduce((s, id) => s + valueBytes(id), 0);
        return { read, write, flops: k.writes.reduce((s, id) => s + numel(shapeOf(id)), 0), tensor: false };
      }
    }
  }

  // The least a step can move: every weight it reads once (the embedding: the window's rows), the
  // KV cache once, the window's K/V written, the graph's inputs read and its outputs written.
  let minBytes = 0;
  const seenPacks = new Set<string>();
  for (const k of kernels) {
    if (k.family === 'host') continue;
    if (k.family === 'embed') {
      const m = k.meta as { width: number; table: keyof typeof DEVICE_BYTES };
      minBytes += ev((k.params[3] as { e: IntExpr }).e) * m.width * DEVICE_BYTES[m.table];
      continue;
    }
    for (const w of weightKeys(k)) if (!seenPacks.has(w)) { seenPacks.add(w); minBytes += bytesOfPack(w); }
    if (k.family === 'attention') {
      const a = k.meta as { kvHeads: number; headDim: number; cache: keyof typeof DEVICE_BYTES };
      const mask = (k.params[3] as { id: number }).id;
      const [B, K] = shapeOf(mask);
      minBytes += 2 * B * K * a.kvHeads * a.headDim * DEVICE_BYTES[a.cache];
    }
    if (k.family === 'gemm') {
      const d = k.meta as unknown as GemmDesc & { tiles: number };
      const M = ev((k.params[12] as { e: IntExpr }).e);
      if (d.epi.kind === 'seg') for (const s of d.epi.segs) if (s.cache) minBytes += M * s.width * DEVICE_BYTES[s.out];
      if (d.epi.kind === 'head') minBytes += (d.epi.writeLogits ? M * d.n * 4 : 0) + M * 12;
    }
  }
  for (const n of g.nodes) {
    if (n.op !== 'input') continue;
    const name = (n.attrs as OpAttrs['input']).name;
    if (name === 'keyMask' || name === 'ids' || name === 'positions' || name === 'headRows' || name === 'start') minBytes += valueBytes(n.id);
  }
  const bytes = out.reduce((s, k) => s + k.bytes, 0);
  const tileBytes = out.reduce((s, k) => s + k.tileBytes, 0);
  const predictedUs = out.reduce((s, k) => s + k.predictedUs, 0);
  const floorUs = Math.max(minBytes / (gpu.bandwidthGBs * 1e9), flopsTotal / (gpu.tensorTflops * 1e12)) * 1e6;
  return { gpu: gpuName, kernels: out, step: { bytes, tileBytes, minBytes, flops: flopsTotal, predictedUs, floorUs, launches: out.length } };
}
