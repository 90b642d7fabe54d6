import { selectScatterGap } from '../../codegen/cuda/step-kernels.ts';
import { planCuda, type PlanOptions } from '../../codegen/cuda/plan.ts';
import { ROPE_MAX_POSITION, type CudaPlan, type CudaPrecision, type DeviceDType, type HeadOutputs } from '../../codegen/cuda/types.ts';
import type { Graph } from '../../ir/graph.ts';
import type { SelectionRule } from '../../ir/select-rule.ts';
import { resolveShape } from '../../ir/shape.ts';
import { numel } from '../../util/math.ts';
import { env, debugLog } from '../../env.ts';
import type { Buf, HostTensor } from '../buffers.ts';
import type { WeightSource } from '../executor.ts';
import { KernelCache } from '../kernel-cache.ts';
import { CudaContext } from './context.ts';
import { formatBytes } from '../../util/format.ts';
import { checkGraphOperands, isLeaf } from '../../ir/ops.ts';
import { SlotPlan } from './memory.ts';
import { evalInt, type DimResolver } from '../../codegen/cuda/types.ts';
import { bindRunInputs } from '../bind-inputs.ts';
import { loadKernels, uploadWeights, type LoadStats } from './setup.ts';
import { readerOfWeightSource, type TensorReader } from '../tensor-reader.ts';
import { CudaDecodeStep } from './device-step.ts';
import { cudaTuningFile, loadCudaTuning } from './tuning-file.ts';
import type { LoadedKernel, RunOptions } from './launch.ts';
import { LaunchSequencer, type Launch } from './launch-sequencer.ts';
import { RunBuffers } from './run-buffers.ts';
import { runHostKernel } from './host-ops.ts';
import type { DeviceDecodeStep } from '../loaded-model.ts';

/** How createCudaExecutor builds the GPU program of a graph. */
export interface CudaExecutorOptions {
  /** 'f32' (default): exact comparison with the CPU; 'bf16': bf16 weights and activations, f32 accumulation. */
  precision?: CudaPrecision;
  /** 'logits' (default) returns logits like the CPU; 'x0conf' returns x0 and confidence per head row instead; 'both' both. */
  headOutputs?: HeadOutputs;
  /** GPU ordinal (default 0). */
  device?: number;
  /** Compiled-module cache (default: FASTDLLM_CACHE_DIR). */
  cache?: KernelCache;
  /** Synchronise and time every launch (on at FASTDLLM_DEBUG>=2). */
  profile?: boolean;
  /** Fill temporaries with NaN before every run, so an element a kernel fails to write shows (tests). */
  poison?: boolean;
  /** Use this device context instead of opening the GPU (tests drive an emulated device through it). */
  context?: CudaContext;
  /** false: generate but do not compile or load modules (an emulated device runs no machine code). */
  compile?: boolean;
  /**
   * Capture each distinct launch sequence into a CUDA graph and replay it when the same
   * sequence (same kernels, grids and parameter values) comes again, as every step of a block
   * does: one cuGraphLaunch instead of one cuLaunchKernel per kernel. Default: FASTDLLM_CUDA_GRAPHS=1.
   */
  graphs?: boolean;
  /**
   * GEMM tile configs by shape (PlanOptions.gemmConfig). Default: this GPU's tuning file
   * (`fastdllm tune --device cuda`), when there is one; null: the defaults.
   */
  gemmConfig?: PlanOptions['gemmConfig'] | null;
  /** Packed host weights by pack key, shared by executors of the same graph and weights (see uploadWeights). */
  packs?: Map<string, Float32Array | Uint16Array>;
  /**
   * The weights in their stored dtype, streamed to the device chunk by chunk (a checkpoint's: see
   * ModelSource.reader). Default: the f32 arrays of the WeightSource, fetched a tensor at a time.
   */
  reader?: TensorReader;
}

const hostArray = (d: DeviceDType, n: number): Buf => (d === 'f64' ? new Float64Array(n) : d === 'i32' ? new Int32Array(n) : d === 'u8' ? new Uint8Array(n) : new Float32Array(n));

/**
 * Runs a forward graph on a GPU with the kernels fastdllm generates for it. `run` has
 * GraphExecutor.run's signature, so the decode loop drives either unchanged. Weights are packed
 * and uploaded once; each state (KV cache) lives on the device, allocated zeroed the first time
 * its host buffer is seen and never copied back (the host buffer is only its identity); inputs
 * are uploaded per call; only the outputs come back. The parts: run-buffers.ts (device memory
 * of a run), launch-sequencer.ts (launching, CUDA graphs, profiling), host-ops.ts (selection ops
 * on the host), device-step.ts (the greedy step on the device); here, binding the kernels'
 * parameters and reading the outputs back.
 */
export class CudaExecutor {
  private readonly buffers: RunBuffers;
  private readonly launcher: LaunchSequencer;
  private readonly produced: Set<number>;
  /** What loading the weights held on the host and uploaded (set by createCudaExecutor). */
  loadStats?: LoadStats;

  constructor(
    readonly ctx: CudaContext,
    readonly plan: CudaPlan,
    readonly kernels: LoadedKernel[],
    private readonly weights: Map<string, { ptr: bigint; bytes: number }>,
    slotPlan: SlotPlan,
    public profile: boolean,
    private readonly poison = false,
    public graphs = false,
    /** The decode step's kernels around the forward (plan.stepKernels), loaded. */
    private readonly stepKernels: LoadedKernel[] = [],
  ) {
    this.buffers = new RunBuffers(ctx, plan, slotPlan);
    this.launcher = new LaunchSequencer(ctx);
    this.produced = new Set(kernels.flatMap((lk) => (lk.kernel.family === 'host' ? lk.kernel.writes : lk.kernel.params.flatMap((p) => (p.k === 'value' ? [p.id] : [])))));
  }

  get graph(): Graph {
    return this.plan.graph;
  }

  /** Whether repeated launch sequences replay as CUDA graphs. */
  get replaysLaunches(): boolean {
    return this.graphs;
  }

  /** Whether run() returns x0 and confidence per head row (headOutputs 'x0conf' or 'both'). */
  get headDecisions(): boolean {
    return this.plan.headRowsOf !== undefined;
  }

  /** Bytes of uploaded weights. */
  get weightBytes(): number {
    let s = 0;
    for (const w of this.weights.values()) s += w.bytes;
    return s;
  }

  /** Per-kernel time of the last profiled run, ms. */
  get lastProfile(): { name: string; ms: number }[] {
    return this.launcher.lastProfile;
  }

  /** Runs that replayed a captured graph / captured a new one (tests and benches read these). */
  get graphStats(): { replays: number; captures: number } {
    return this.launcher.graphStats;
  }

  /** When set, `run` brackets its launches with CUDA events and leaves their time in lastGpuMs. */
  get timeLaunches(): boolean {
    return this.launcher.timeLaunches;
  }

  set timeLaunches(on: boolean) {
    this.launcher.timeLaunches = on;
  }

  /** Device time of the last run's launches (uploads and downloads excluded), ms; NaN unless timeLaunches. */
  get lastGpuMs(): number {
    return this.launcher.lastGpuMs;
  }

  /** Runs once; states are updated on the device; returns the named outputs (see headOutputs). */
  run(inputs: Record<string, HostTensor>, states: Record<string, HostTensor> = {}, want?: readonly string[], opts: RunOptions = {}): Record<string, HostTensor> {
    const g = this.plan.graph;
    const wanted = (name: string) => !want || want.includes(name);
    const { dims, tensors: host } = bindRunInputs(g, inputs, states);
    const shapes = new Map<number, number[]>();
    const d: DimResolver = {
      shape: (id) => {
        let s = shapes.get(id);
        if (!s) shapes.set(id, (s = resolveShape(g.node(id).shape, dims)));
        return s;
      },
      scalar: (id) => {
        const t = host.get(id);
        if (!t || t.data.length !== 1) throw new Error(`cuda run: node #${id} is not a scalar input`);
        return Number(t.data[0]);
      },
    };
    checkGraphOperands(g.nodes, (id) => host.get(id)?.data, (id) => d.shape(id), { maxPosition: ROPE_MAX_POSITION });
    const ptrs = this.buffers.bind(host, d, opts.deviceInputs);
    if (this.poison) this.buffers.poison();
    const ropePtr = new Map<string, bigint>();
    for (const lk of this.kernels) {
      for (const p of lk.kernel.params) if (p.k === 'rope') ropePtr.set(`${p.headDim}:${p.theta}`, this.buffers.ropeTable(p.headDim, p.theta, host.get(p.positions)!.data));
    }
    const ptrOf = (id: number): bigint => {
      const r = this.plan.aliases.get(id) ?? id;
      const p = ptrs.get(r);
      if (p === undefined) throw new Error(`cuda run: value #${r} (${g.node(r).op}) has no device buffer`);
      return p;
    };

    this.launcher.begin(this.profile);
    // Host kernels (selection ops) split the sequence: device launches between them are batched.
    const pending: Launch[] = [...(opts.before ?? [])];
    const flush = () => {
      if (pending.length) this.launcher.launch(pending, this.graphs && !this.poison);
      pending.length = 0;
    };
    for (const lk of this.kernels) {
      const k = lk.kernel;
      if (k.family === 'host') {
        flush();
        runHostKernel(this.ctx, g, k, ptrOf, d);
        continue;
      }
      const grid = k.grid.map((e) => evalInt(e, d));
      if (grid.some((x) => x === 0)) continue;
      k.params.forEach((p, i) => {
        switch (p.k) {
          case 'value': lk.params.setPtr(i, ptrOf(p.id)); break;
          case 'weight': lk.params.setPtr(i, this.weights.get(p.pack)!.ptr); break;
          case 'null': lk.params.setPtr(i, 0n); break;
          case 'scratch': lk.params.setPtr(i, this.buffers.scratchPtr(p.name)); break;
          case 'extra': lk.params.setPtr(i, this.buffers.extraPtr(p.name)); break;
          case 'rope': lk.params.setPtr(i, ropePtr.get(`${p.headDim}:${p.theta}`)!); break;
          case 'step': throw new Error(`${k.name}: a decode-step kernel in the forward's launch list`);
          case 'int': {
            const v = evalInt(p.e, d);
            if (p.bits === 32) lk.params.setI32(i, v);
            else lk.params.setI64(i, v);
          }
        }
      });
      pending.push({ lk, grid });
    }
    pending.push(...(opts.after ?? []));
    flush();
    this.launcher.end();

    const result: Record<string, HostTensor> = {};
    for (const [name, id] of Object.entries(g.outputs)) {
      if (!this.produced.has(id) || !wanted(name)) continue;
      const shape = d.shape(id);
      const out = hostArray(this.plan.storage.get(id) ?? 'f32', numel(shape));
      this.ctx.download(out, ptrOf(id));
      result[name] = { data: out, shape };
    }
    if (this.plan.headRowsOf !== undefined && (wanted('x0') || wanted('confidence'))) {
      const shape = d.shape(this.plan.headRowsOf).slice(0, -1);
      const rows = numel(shape);
      const bufs = this.buffers.decisionBuffers(rows);
      const x0 = new Int32Array(rows), conf = new Float64Array(rows);
      this.ctx.download(x0, bufs.x0);
      this.ctx.download(conf, bufs.confidence);
      result.x0 = { data: x0, shape };
      result.confidence = { data: conf, shape };
    }
    if (Object.keys(result).length === 0 && opts.sync !== false) this.ctx.synchronize('end of run');
    return result;
  }

  /**
   * Device addresses of the head's x0 and confidence (`rows` head rows): those of the last run,
   * or with `allocate` grown now to the size the next run will use (run() grows them the same way).
   */
  decisionBuffers(rows: number, allocate = false): { x0: bigint; confidence: bigint } {
    return this.buffers.decisionBuffers(rows, allocate);
  }

  /**
   * The greedy decode step on the device (CudaDecodeStep), choosing by `rule`, or why not: the
   * head must compute x0 and confidence (the plan then has the step kernels).
   */
  deviceDecodeStep(rule: SelectionRule, canvas: Int32Array, batch: number, maskId: number): DeviceDecodeStep | string {
    if (!env.deviceSelect) return 'FASTDLLM_DEVICE_SELECT=0';
    const win = this.stepKernels.find((k) => k.kernel.family === 'decode_window');
    const sel = this.stepKernels.find((k) => k.kernel.family === 'select_scatter');
    if (!win || !sel) return `the plan has no decode-step kernels (headOutputs '${this.plan.headOutputs}')`;
    const gap = selectScatterGap(rule);
    if (gap) return gap;
    return new CudaDecodeStep(this.ctx, this, win, sel, rule, batch, canvas.length / batch, maskId, canvas);
  }

  /** A state's device contents as f32 (tests and debugging; the decode path never reads them back). */
  readState(t: HostTensor): Float32Array {
    return this.buffers.readState(t);
  }

  /** Frees every device buffer this executor holds (its states included). */
  dispose(): void {
    this.launcher.dispose();
    for (const w of this.weights.values()) this.ctx.free(w.ptr);
    this.weights.clear();
    this.buffers.dispose();
    for (const lk of [...this.kernels, ...this.stepKernels]) lk.params.free();
  }
}

/**
 * Plans, compiles and loads a graph's kernels on the GPU and uploads its weights. The graph is
 * the fused forward graph a LoadedModel holds; `weightSource` is the same callback GraphExecutor
 * takes (f32 tensors by name; bf16 precision rounds them on upload).
 */
export async function createCudaExecutor(graph: Graph, weightSource: WeightSource, opts: CudaExecutorOptions = {}): Promise<CudaExecutor> {
  const ctx = opts.context ?? CudaContext.open(opts.device ?? 0);
  const precision = opts.precision ?? 'f32';
  const gemmConfig = opts.gemmConfig === undefined ? loadCudaTuning(cudaTuningFile(ctx.info, precision)) : opts.gemmConfig ?? undefined;
  // Default tiles split K until a GEMM fills a wave of this GPU's SMs (never a function of the batch).
  const plan = planCuda(graph, { precision, headOutputs: opts.headOutputs ?? 'logits', gemmConfig, sms: ctx.info.multiprocessors });
  if (env.debug >= 3) debugLog(3, `cuda plan (${plan.precision}):\n${plan.kernels.map((k) => `  ${k.name}: ${k.fuses.join(' + ')} [nodes ${k.nodes.join(', ')}]`).join('\n')}`);
  const cache = opts.cache ?? new KernelCache();
  const kernels = await loadKernels(ctx, plan, cache, opts.compile ?? true);
  const stepKernels = await loadKernels(ctx, { ...plan, kernels: plan.stepKernels }, cache, opts.compile ?? true);
  const loadStats: LoadStats = { hostPeakBytes: 0, uploadedBytes: 0, largestPackBytes: 0 };
  const weights = uploadWeights(ctx, plan, opts.reader ?? readerOfWeightSource(weightSource), opts.packs, loadStats);
  const temps = new Set<number>();
  const isTemp = (id: number) => {
    const r = plan.aliases.get(id) ?? id;
    const op = graph.node(r).op;
    return r === id && !isLeaf(op);
  };
  for (const k of plan.kernels) {
    for (const p of k.params) if (p.k === 'value' && isTemp(p.id)) temps.add(p.id);
    if (k.family === 'host') for (const v of [...k.reads, ...k.writes]) if (isTemp(v)) temps.add(v);
  }
  const slotPlan = new SlotPlan(plan, (id) => temps.has(id));
  debugLog(1, `cuda executor: ${plan.kernels.length} launches, ${formatBytes([...weights.values()].reduce((s, w) => s + w.bytes, 0))} of weights (streamed, at most ${formatBytes(loadStats.hostPeakBytes)} held on the host), ${slotPlan.slotCount} temporary buffers`);
  const ex = new CudaExecutor(ctx, plan, kernels, weights, slotPlan, opts.profile ?? env.debug >= 2, opts.poison ?? env.poison ?? false, opts.graphs ?? env.cudaGraphs, stepKernels);
  ex.loadStats = loadStats;
  return ex;
}
