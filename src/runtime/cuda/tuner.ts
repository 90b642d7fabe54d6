import { planCuda } from '../../codegen/cuda/plan.ts';
import { defaultGemmConfig, GEMM_SPACE, gemmValid, sameGemmConfig, type GemmShape } from '../../codegen/cuda/tuning.ts';
import type { CudaPrecision } from '../../codegen/cuda/types.ts';
import type { GemmDesc } from '../../codegen/cuda/gemm.ts';
import type { Graph } from '../../ir/graph.ts';
import type { DecoderConfig } from '../../models/define.ts';
import { debugLog } from '../../env.ts';
import { median } from '../../util/math.ts';
import type { HostTensor } from '../buffers.ts';
import type { WeightSource } from '../executor.ts';
import { KvCache } from '../kv-cache.ts';
import type { CudaContext } from './context.ts';
import { createCudaExecutor } from './executor.ts';
import { cudaGemmKey, type CudaTuned, type CudaTuneResult, type CudaTuneTrial } from './tuning-file.ts';

export interface CudaTuneOptions {
  precision: CudaPrecision;
  /**
   * Window rows of the timed forwards, whose times add up: a cached step's block and a refresh
   * over the whole canvas (default [32, cacheRows]); the head takes min(rows, 32) rows.
   */
  rows?: number[];
  /** Cache rows the step attends to (default 288). */
  cacheRows?: number;
  /** Timed runs per config after two warm-ups (default 10). */
  reps?: number;
  /** 'all' (default): the whole space; 'split': the default tiles and the split-K configs (a shorter run). */
  space?: 'all' | 'split';
  /** The device (tests: an emulated one) and whether to compile (see CudaExecutorOptions). */
  context?: CudaContext;
  compile?: boolean;
  /** Called with each executor before it runs (tests register its kernels on an emulated device). */
  onExecutor?: (plan: ReturnType<typeof planCuda>) => void;
}

/**
 * Times every GEMM config of the space on the forwards of a decode (a cached step's window and
 * a refresh's, one batch row, x0 and confidence out), each config applied to every GEMM it fits,
 * with CUDA events around each launch; the fastest per GEMM shape (summed over the windows) wins. The default config is always
 * among the trials, so a tuned file is never slower than the default by its own measurement.
 */
export async function tuneCudaGemms(model: { graph: Graph; config: DecoderConfig; weights: WeightSource }, opts: CudaTuneOptions): Promise<CudaTuneResult[]> {
  const Kmax = opts.cacheRows ?? 288, reps = opts.reps ?? 10, windows = opts.rows ?? [32, Kmax];
  const calls = windows.map((T) => {
    if (!(T >= 1 && T <= Kmax)) throw new Error(`tune: ${T} window rows do not fit ${Kmax} cache rows`);
    const start = Kmax - T, R = Math.min(T, 32);
    const inputs: Record<string, HostTensor> = {
      ids: { data: new Int32Array(T).map((_, i) => i % model.config.vocabSize), shape: [1, T] },
      positions: { data: Int32Array.from({ length: T }, (_, i) => start + i), shape: [1, T] },
      start: { data: Int32Array.of(start), shape: [] },
      keyMask: { data: new Uint8Array(Kmax).fill(1), shape: [1, Kmax] },
      headRows: { data: Int32Array.from({ length: R }, (_, i) => i), shape: [1, R] },
    };
    return inputs;
  });
  // Weights packed (and rounded to bf16) once for all configs; each executor uploads its own copy.
  const packs = new Map<string, Float32Array | Uint16Array>();
  const configs = GEMM_SPACE.filter((c) => (c.core === 'mma') === (opts.precision === 'bf16')
    && (opts.space !== 'split' || (c.splitK ?? 1) > 1 || sameGemmConfig(c, defaultGemmConfig(opts.precision)) || sameGemmConfig(c, defaultGemmConfig(opts.precision, true))));
  const byKey = new Map<string, { shape: GemmShape; head: boolean; trials: CudaTuneTrial[] }>();
  // The SM count the executors plan their default tiles for (the defaults' split-K depends on it).
  let sms: number | undefined;
  for (const cfg of configs) {
    const tuned: CudaTuned = (shape, head) => (gemmValid(cfg, shape, opts.precision, head) === null ? cfg : undefined);
    const ex = await createCudaExecutor(model.graph, model.weights, { precision: opts.precision, headOutputs: 'x0conf', context: opts.context, compile: opts.compile, gemmConfig: tuned, profile: true, packs });
    sms = ex.ctx.info.multiprocessors;
    try {
      opts.onExecutor?.(ex.plan);
      // Kernel name -> the GEMM it is, where this config is the one it was generated with.
      const gemms = new Map<string, { key: string; shape: GemmShape; head: boolean; main: boolean }>();
      // A split-K GEMM is two kernels (partial sums, then reduce + epilogue): its time is both.
      for (const k of ex.plan.kernels) {
        if (k.family !== 'gemm' && k.family !== 'gemm_reduce') continue;
        const d = k.meta as unknown as GemmDesc;
        const shape = { n: d.n, k: d.k }, head = d.epi.kind === 'head';
        if (tuned(shape, head)) gemms.set(k.name, { key: cudaGemmKey(shape, head), shape, head, main: k.family === 'gemm' });
      }
      const states = new KvCache(model.config, 1, Kmax).states;
      // Per GEMM key: the sum over window sizes of the median time per launch.
      const total = new Map<string, number>();
      for (const inputs of calls) {
        for (let i = 0; i < 2; i++) ex.run(inputs, states, []);
        const perRun = new Map<string, number[]>();
        for (let r = 0; r < reps; r++) {
          ex.run(inputs, states, []);
          const sum = new Map<string, { ms: number; n: number }>();
          for (const p of ex.lastProfile) {
            const g = gemms.get(p.name);
            if (!g) continue;
            const s = sum.get(g.key) ?? { ms: 0, n: 0 };
            sum.set(g.key, { ms: s.ms + p.ms, n: s.n + (g.main ? 1 : 0) });
          }
          for (const [key, s] of sum) perRun.set(key, [...(perRun.get(key) ?? []), s.ms / s.n]);
        }
        for (const [key, times] of perRun) total.set(key, (total.get(key) ?? 0) + median(times));
      }
      for (const g of gemms.values()) {
        const ms = total.get(g.key);
        if (ms === undefined) continue;
        const e = byKey.get(g.key) ?? { shape: g.shape, head: g.head, trials: [] };
        if (!e.trials.some((t) => t.config === cfg)) e.trials.push({ config: cfg, ms });
        byKey.set(g.key, e);
      }
      debugLog(1, `tune: ${JSON.stringify(cfg)} timed on ${gemms.size} GEMMs`);
    } finally {
      ex.dispose();
    }
  }
  return [...byKey.entries()].map(([key, e]) => {
    const trials = e.trials.sort((a, b) => a.ms - b.ms);
    const dflt = defaultGemmConfig(opts.precision, e.head, e.shape, sms);
    return { key, n: e.shape.n, k: e.shape.k, head: e.head, trials, best: trials[0].config, defaultMs: trials.find((t) => sameGemmConfig(t.config, dflt))?.ms ?? NaN };
  });
}
