import { existsSync, readFileSync } from 'node:fs';
import type { CudaPlan } from '../../src/codegen/cuda/types.ts';
import { createCudaExecutor, type CudaExecutor } from '../../src/runtime/cuda/executor.ts';
import type { CudaContext } from '../../src/runtime/cuda/context.ts';
import { formatBytes } from '../../src/util/format.ts';
import { KvCache } from '../../src/runtime/kv-cache.ts';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';
import { env } from '../../src/env.ts';
import { median } from '../../src/util/math.ts';
import { dualStepCalls, wideLlada } from './wide-model.ts';

/** What runStepBench runs on and how long. */
export interface StepBenchOptions {
  /** Layers of the LLaDA-8B-width model (the GPU run; default 4). */
  layers: number;
  /** Timed steps per config after warm-up. */
  reps: number;
  /** torch_baseline.py's log: its measured tensor rate and step time, when it ran first. */
  torchLog?: string;
  /**
   * A device other than the GPU (a test's CPU model of the kernels): the model is then one
   * narrow layer and the timings mean nothing; the script's code paths run all the same.
   */
  device?: { context: CudaContext; registerPlan(plan: CudaPlan): void };
}

/** The last line of a log that parses as a JSON object (torch_baseline.py prints its results so). */
function lastJsonLine(file: string): Record<string, any> | null {
  if (!existsSync(file)) return null;
  for (const line of readFileSync(file, 'utf8').trim().split('\n').reverse()) {
    try { const v = JSON.parse(line); if (v && typeof v === 'object') return v; } catch { /* not JSON */ }
  }
  return null;
}
/** Device-to-device copy bandwidth (bytes read + written per second), 1 GiB, median of 10. */
function copyBandwidth(ex: CudaExecutor, small: boolean): number {
  const ctx = ex.ctx, n = small ? 1 << 20 : 1 << 30;
  const a = ctx.alloc(n, 'bandwidth probe'), b = ctx.alloc(n, 'bandwidth probe');
  try {
    ctx.fill32(a, 0x3f800000, n / 4);
    const e0 = ctx.createEvent(), e1 = ctx.createEvent();
    const times: number[] = [];
    for (let i = 0; i < 12; i++) {
      ctx.record(e0, null);
      ctx.copy(b, a, n);
      ctx.record(e1, null);
      const ms = ctx.elapsed(e0, e1);
      if (i >= 2) times.push(ms);
    }
    return (2 * n) / (median(times) / 1e3);
  } finally {
    ctx.free(a);
    ctx.free(b);
  }
}

/**
 * Times one dual-cache decode step (window 32, cache 288 rows, batch 1, 32 head rows) in bf16
 * under each executor config, and whole decodes with host and device selection (their tokens
 * must agree), beside the step's two floors. Returns the JSON report and the summary lines.
 */
export async function runStepBench(o: StepBenchOptions): Promise<{ report: Record<string, unknown>; lines: string[] }> {
  const device = o.device ?? null, emulate = device !== null;
  const t0 = performance.now();
  const { graph, weights, vocab, config } = wideLlada(emulate ? 1 : o.layers, emulate ? 512 : undefined, emulate);
  const D = config.dModel, F = config.mlpHidden, KV = config.nKvHeads * config.headDim;
  const report: Record<string, unknown> = { emulated: emulate, layers: config.nLayers, vocab, window: 32, cacheRows: 288, batch: 1, headRows: 32, reps: o.reps };
  const rows: string[] = [];
  // Every executor reads the same weights: packed and rounded to bf16 once, uploaded by each.
  const source = weights(true);
  const packs = new Map<string, Float32Array | Uint16Array>();
  // logits out; x0 + confidence out (what decoding reads); the same replayed as a CUDA graph.
  // Split-K rows: every GEMM but the head in 2 or 4 k ranges (the tuner's split configs).
  const split = (splitK: number) => () => ({ core: 'mma' as const, bm: 32, bn: 64, bk: 64, stages: 3, splitK });
  const CONFIGS = [
    { label: 'logits', headOutputs: 'logits', graphs: false, gemmConfig: null },
    { label: 'x0conf', headOutputs: 'x0conf', graphs: false, gemmConfig: null },
    { label: 'x0confGraph', headOutputs: 'x0conf', graphs: true, gemmConfig: null },
    { label: 'x0confSplit2', headOutputs: 'x0conf', graphs: false, gemmConfig: split(2) },
    { label: 'x0confSplit4', headOutputs: 'x0conf', graphs: false, gemmConfig: split(4) },
  ] as const;
  for (const { label, headOutputs, graphs, gemmConfig } of CONFIGS) {
    // gemmConfig null: the default tiles, whatever tuning file this GPU may have.
    const ex = await createCudaExecutor(graph, source, { precision: 'bf16', headOutputs, graphs, gemmConfig, packs, ...(device ? { context: device.context, compile: false } : {}) });
    device?.registerPlan(ex.plan);
    try {
      if (headOutputs === 'logits') {
        report.device = ex.ctx.info;
        report.setupSeconds = (performance.now() - t0) / 1e3;
        report.copyBandwidthGBs = copyBandwidth(ex, emulate) / 1e9;
      }
      const [refresh, step] = dualStepCalls(vocab);
      const states = new KvCache(config, 1, 288).states;
      ex.run(refresh, states);
      ex.timeLaunches = true;
      for (let i = 0; i < 5; i++) ex.run(step, states);
      const gpu: number[] = [], wall: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        const w0 = performance.now();
        ex.run(step, states);
        wall.push(performance.now() - w0);
        gpu.push(ex.lastGpuMs);
      }
      ex.timeLaunches = false;
      // Per-kernel breakdown from one profiled run (synchronises after each launch).
      ex.profile = true;
      ex.run(step, states);
      const byKernel = new Map<string, number>();
      for (const p of ex.lastProfile) byKernel.set(p.name, (byKernel.get(p.name) ?? 0) + p.ms);
      ex.profile = false;
      const gemmBytes = ex.plan.packs.filter((p) => !p.key.includes('wte')).reduce((s, p) => s + p.rows * Math.max(1, p.cols) * (p.dtype === 'bf16' ? 2 : 4), 0);
      const cacheBytes = 2 * config.nLayers * 288 * KV * 2;
      if (graphs && ex.graphStats.replays === 0) throw new Error('CUDA graphs on, but no run replayed a graph');
      report[label] = {
        gpuMsMedian: median(gpu), gpuMsMin: Math.min(...gpu), wallMsMedian: median(wall), launches: ex.plan.kernels.length,
        bytesRead: gemmBytes + cacheBytes, weightBytes: ex.weightBytes,
        kernels: [...byKernel.entries()].map(([name, ms]) => ({ name, ms })), graphStats: { ...ex.graphStats },
      };
      rows.push(`${label.padEnd(12)} GPU ${median(gpu).toFixed(3)} ms (min ${Math.min(...gpu).toFixed(3)}), run() wall ${median(wall).toFixed(3)} ms, ${ex.plan.kernels.length} launches`);
    } finally {
      ex.dispose();
    }
  }
  // Whole decodes (dual cache, threshold 0.9, 64 tokens in 2 blocks after a 224-token prompt: 64
  // forwards, 2 of them refreshes), selecting on the host from x0 + confidence read back, or on the
  // device into its canvas (one record read per step); each with and without CUDA graphs. The
  // tokens must be the same in all four.
  const decodeRows: Record<string, { msMedian: number; nfe: number; msPerStep: number }> = {};
  let tokens0: string | undefined;
  for (const graphs of [false, true]) {
    const ex = await createCudaExecutor(graph, source, { precision: 'bf16', headOutputs: 'x0conf', graphs, gemmConfig: null, packs, ...(device ? { context: device.context, compile: false } : {}) });
    device?.registerPlan(ex.plan);
    const model: LoadedModel = { dir: '(random weights)', definition: undefined as never, config, graph, executor: ex, backend: 'cuda-bf16' };
    const prompt = Array.from({ length: emulate ? 24 : 224 }, (_, i) => (i * 7919 + 13) % vocab);
    // The emulated run's narrow vocabulary has no room for LLaDA's mask id: use its last id.
    const opts = { genLength: emulate ? 16 : 64, blockLength: emulate ? 8 : 32, cache: 'dual' as const, threshold: 0.9, ...(emulate ? { maskId: vocab - 1 } : {}) };
    try {
      for (const onDevice of [false, true]) {
        env.deviceSelect = onDevice;
        decodeIdsToEnd(model, [prompt], opts); // warm-up (and graph captures)
        const times: number[] = [];
        let r;
        for (let i = 0; i < (emulate ? 1 : 5); i++) {
          const w0 = performance.now();
          r = decodeIdsToEnd(model, [prompt], opts);
          times.push(performance.now() - w0);
        }
        const key = `${onDevice ? 'deviceSelect' : 'hostSelect'}${graphs ? 'Graph' : ''}`;
        decodeRows[key] = { msMedian: median(times), nfe: r!.nfe, msPerStep: median(times) / r!.nfe };
        const t = JSON.stringify(r!.tokens);
        if (tokens0 === undefined) tokens0 = t;
        else if (t !== tokens0) throw new Error(`decode ${key}: tokens differ from the first variant's`);
        rows.push(`decode ${key.padEnd(17)} ${median(times).toFixed(2)} ms for ${r!.nfe} forwards = ${(median(times) / r!.nfe).toFixed(3)} ms per step (wall)`);
      }
    } finally {
      env.deviceSelect = true;
      ex.dispose();
    }
  }
  report.decode = { ...decodeRows, sameTokens: true };

  // Floors: weights + cache once over the measured copy bandwidth; 2 * rows * params over the tensor rate.
  const layerParams = D * (D + 2 * KV) + D * D + 3 * D * F;
  const flops = 2 * 32 * (config.nLayers * layerParams + vocab * D) + config.nLayers * 2 * 2 * 32 * 288 * D;
  const torch = o.torchLog ? lastJsonLine(o.torchLog) : null;
  const tflops = torch?.matmulTflops ?? 989;
  const bytes = (report.logits as { bytesRead: number }).bytesRead;
  const bw = report.copyBandwidthGBs as number;
  report.floors = { bytes, flops, bandwidthFloorMs: (bytes / (bw * 1e9)) * 1e3, computeFloorMs: (flops / (tflops * 1e12)) * 1e3, tensorTflops: tflops, tensorRateSource: torch?.matmulTflops ? 'measured (PyTorch bf16 matmul)' : 'H100 SXM datasheet (dense bf16)' };
  if (torch?.stepMsMedian) report.torch = torch;
  const f = report.floors as Record<string, number | string>;
  const lines = [
    `dual-cache step, ${config.nLayers} layers at ${emulate ? 'a narrow width (EMULATED: timings meaningless)' : 'LLaDA-8B width'}, bf16, window 32, cache 288, 32 head rows (${(report.device as { name: string }).name})`,
    ...rows,
    `floor (bytes): ${formatBytes(bytes)} / ${bw.toFixed(0)} GB/s measured copy = ${(f.bandwidthFloorMs as number).toFixed(3)} ms`,
    `floor (FLOPs): ${(flops / 1e9).toFixed(1)} GFLOP / ${tflops.toFixed(0)} TFLOP/s (${f.tensorRateSource}) = ${(f.computeFloorMs as number).toFixed(3)} ms`,
    ...(torch?.stepMsMedian ? [`PyTorch baseline (same computation, eager bf16): ${torch.stepMsMedian.toFixed(3)} ms`] : []),
  ];
  return { report, lines };
}
