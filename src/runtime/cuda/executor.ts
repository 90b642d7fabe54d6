import { planCuda, type PlanOptions } from '../../codegen/cuda/plan.ts';
import { DEVICE_BYTES, type CudaKernel, type CudaPlan, type CudaPrecision, type DeviceDType, type HeadOutputs } from '../../codegen/cuda/types.ts';
import type { Graph } from '../../ir/graph.ts';
import { numel, resolveShape } from '../../ir/shape.ts';
import { env, debugLog } from '../../env.ts';
import { ParamBlock } from '../ffi/cuda-driver.ts';
import { allocBuf, type Buf, type HostTensor } from '../buffers.ts';
import type { WeightSource } from '../executor.ts';
import { KernelCache } from '../kernel-cache.ts';
import { hostOpKernel } from '../reference/backend.ts';
import type { CompiledModule } from './compile.ts';
import { CudaContext, fmtBytes, type FunctionAttributes } from './context.ts';
import { checkCudaOperands } from './operand-checks.ts';
import { DeviceBuffer, evalInt, SlotPlan, type DimResolver } from './memory.ts';
import { fromBf16, ropeCosSin } from './weights.ts';
import { bindRunInputs } from '../bind-inputs.ts';
import { loadKernels, uploadWeights } from './setup.ts';
import { lowerSelectGraph } from '../../codegen/cuda/step-kernels.ts';
import { CudaDecodeStep } from './device-step.ts';
import { cudaTuningFile, loadCudaTuning } from './tuner.ts';
import type { DeviceDecodeStep } from '../model.ts';

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
}

/** How one run binds its inputs and ends. */
export interface RunOptions {
  /** Inputs already on the device (by input name): bound by address, not uploaded; their host tensors give only shapes. */
  deviceInputs?: Record<string, bigint>;
  /** false: do not synchronise at the end of a run that returns nothing (a later read orders after it). Default true. */
  sync?: boolean;
  /**
   * Kernels (their parameters set) launched just before and after the forward's, in the same
   * launch sequence: with CUDA graphs they are captured and replayed with it (the device decode
   * step's window and selection).
   */
  before?: { lk: LoadedKernel; grid: number[] }[];
  after?: { lk: LoadedKernel; grid: number[] }[];
}

/** Executable graphs kept per executor (least recently used dropped first). */
const MAX_GRAPHS = 64;

/** One kernel ready to launch. */
export interface LoadedKernel {
  kernel: CudaKernel;
  fn: bigint;
  params: ParamBlock;
  attrs: FunctionAttributes | null;
  compiled: CompiledModule | null;
}

const hostArray = (d: DeviceDType, n: number): Buf => (d === 'f64' ? new Float64Array(n) : d === 'i32' ? new Int32Array(n) : d === 'u8' ? new Uint8Array(n) : new Float32Array(n));

/**
 * Runs a forward graph on a GPU with the kernels fastdllm generates for it. `run` has
 * GraphExecutor.run's signature, so the decode loop drives either unchanged. Weights are packed
 * and uploaded once; each state (KV cache) lives on the device, allocated zeroed the first time
 * its host buffer is seen and never copied back (the host buffer is only its identity); inputs
 * are uploaded per call; only the outputs come back.
 */
export class CudaExecutor {
  private readonly stateBufs = new WeakMap<object, { ptr: bigint; bytes: number }>();
  // A KV cache dropped by its host owner frees its device copy; dispose() unregisters first, so
  // an address freed there can never be freed again after the allocator hands it out anew.
  private readonly stateRegistry = new FinalizationRegistry<bigint>((ptr) => {
    if (!this.liveStates.delete(ptr)) return;
    try { this.ctx.free(ptr); } catch { /* context gone */ }
  });
  private readonly liveStates = new Map<bigint, object>();
  private readonly inputBufs = new Map<number, DeviceBuffer>();
  private readonly slots: DeviceBuffer[];
  private readonly scratch = new Map<string, DeviceBuffer>();
  private readonly extras = { x0: null as DeviceBuffer | null, confidence: null as DeviceBuffer | null };
  private readonly temps: Set<number>;
  /** RoPE cos / sin tables by (head dim, theta), grown to the largest position seen. */
  private readonly ropeTables = new Map<string, { buf: DeviceBuffer; count: number }>();
  /** Per-kernel time of the last profiled run, ms. */
  lastProfile: { name: string; ms: number }[] = [];
  private readonly produced: Set<number>;
  /** When set, `run` brackets its launches with CUDA events and leaves their time in lastGpuMs. */
  timeLaunches = false;
  /** Device time of the last run's launches (uploads and downloads excluded), ms; NaN unless timeLaunches. */
  lastGpuMs = NaN;
  private launchEvents: [bigint, bigint] | null = null;
  private events: [bigint, bigint] | null = null;
  /** Launch sequences captured as CUDA graphs, by the sequence's key (see runLaunches). */
  private readonly graphExecs = new Map<string, bigint>();
  private stream: bigint | null = null;
  /** Runs that replayed a captured graph / captured a new one (tests and benches read these). */
  graphStats = { replays: 0, captures: 0 };

  constructor(
    readonly ctx: CudaContext,
    readonly plan: CudaPlan,
    readonly kernels: LoadedKernel[],
    private readonly weights: Map<string, { ptr: bigint; bytes: number }>,
    private readonly slotPlan: SlotPlan,
    public profile: boolean,
    private readonly poison = false,
    public graphs = false,
    /** The decode step's kernels around the forward (plan.stepKernels), loaded. */
    private readonly stepKernels: LoadedKernel[] = [],
  ) {
    this.slots = Array.from({ length: slotPlan.slotCount }, (_, i) => new DeviceBuffer(ctx, `temporary buffer ${i}`));
    this.temps = new Set(slotPlan.slotOf.keys());
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
    checkCudaOperands(g, host, d);
    const ptrs = new Map<number, bigint>();
    for (const [id, t] of host) {
      const n = g.node(id);
      const onDevice = n.op === 'input' ? opts.deviceInputs?.[(n.attrs as { name: string }).name] : undefined;
      if (onDevice !== undefined) {
        ptrs.set(id, onDevice);
      } else if (n.op === 'input') {
        let b = this.inputBufs.get(id);
        if (!b) this.inputBufs.set(id, (b = new DeviceBuffer(this.ctx, `input '${(n.attrs as { name: string }).name}'`)));
        b.ensure(t.data.byteLength);
        this.ctx.upload(b.ptr, t.data);
        ptrs.set(id, b.ptr);
      } else {
        ptrs.set(id, this.stateBuffer(t, this.plan.storage.get(id)!, (n.attrs as { name: string }).name));
      }
    }
    const slotBytes = new Array<number>(this.slots.length).fill(0);
    for (const v of this.temps) {
      const s = this.slotPlan.slotOf.get(v)!;
      slotBytes[s] = Math.max(slotBytes[s], numel(d.shape(v)) * DEVICE_BYTES[this.plan.storage.get(v) ?? 'f32']);
    }
    this.slots.forEach((b, i) => b.ensure(slotBytes[i]));
    for (const v of this.temps) ptrs.set(v, this.slots[this.slotPlan.slotOf.get(v)!].ptr);
    for (const s of this.plan.scratch) {
      let b = this.scratch.get(s.name);
      if (!b) this.scratch.set(s.name, (b = new DeviceBuffer(this.ctx, `scratch '${s.name}'`)));
      b.ensure(evalInt(s.count, d) * s.elemBytes);
    }
    const headRows = this.plan.headRowsOf === undefined ? 0 : numel(d.shape(this.plan.headRowsOf).slice(0, -1));
    if (this.plan.headRowsOf !== undefined) this.decisionBuffers(headRows, true);
    if (this.poison) {
      for (const b of [...this.slots, ...this.scratch.values(), this.extras.x0, this.extras.confidence]) if (b?.bytes) this.ctx.fill32(b.ptr, 0x7fc00000, b.bytes >> 2);
    }
    const ropePtr = new Map<string, bigint>();
    for (const lk of this.kernels) {
      for (const p of lk.kernel.params) {
        if (p.k !== 'rope') continue;
        const key = `${p.headDim}:${p.theta}`;
        let maxPos = 0;
        const pos = host.get(p.positions)!.data;
        for (let i = 0; i < pos.length; i++) if (pos[i] > maxPos) maxPos = pos[i];
        let t = this.ropeTables.get(key);
        if (!t) this.ropeTables.set(key, (t = { buf: new DeviceBuffer(this.ctx, `RoPE table hd ${p.headDim} theta ${p.theta}`), count: 0 }));
        if (maxPos >= t.count) {
          t.count = Math.ceil((maxPos + 1) / 1024) * 1024;
          const table = ropeCosSin(p.headDim, p.theta, t.count);
          t.buf.ensure(table.byteLength);
          this.ctx.upload(t.buf.ptr, table);
        }
        ropePtr.set(key, t.buf.ptr);
      }
    }
    const ptrOf = (id: number): bigint => {
      const r = this.plan.aliases.get(id) ?? id;
      const p = ptrs.get(r);
      if (p === undefined) throw new Error(`cuda run: value #${r} (${g.node(r).op}) has no device buffer`);
      return p;
    };

    this.lastProfile = [];
    if (this.profile && !this.events) this.events = [this.ctx.createEvent(), this.ctx.createEvent()];
    const [ev0, ev1] = this.profile && this.events ? this.events : [null, null];
    if (this.timeLaunches) {
      this.launchEvents ??= [this.ctx.createEvent(), this.ctx.createEvent()];
      this.ctx.record(this.launchEvents[0], null);
    }
    // Host kernels (selection ops) split the sequence: device launches between them are batched.
    const pending: { lk: LoadedKernel; grid: number[] }[] = [...(opts.before ?? [])];
    const flush = () => {
      if (pending.length) this.launchAll(pending, ev0, ev1);
      pending.length = 0;
    };
    for (const lk of this.kernels) {
      const k = lk.kernel;
      if (k.family === 'host') {
        flush();
        this.runHost(k, ptrOf, d);
        continue;
      }
      const grid = k.grid.map((e) => evalInt(e, d));
      if (grid.some((x) => x === 0)) continue;
      k.params.forEach((p, i) => {
        switch (p.k) {
          case 'value': lk.params.setPtr(i, ptrOf(p.id)); break;
          case 'weight': lk.params.setPtr(i, this.weights.get(p.pack)!.ptr); break;
          case 'null': lk.params.setPtr(i, 0n); break;
          case 'scratch': lk.params.setPtr(i, this.scratch.get(p.name)!.ptr); break;
          case 'extra': lk.params.setPtr(i, this.extras[p.name]!.ptr); break;
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

    if (this.timeLaunches && this.launchEvents) {
      this.ctx.record(this.launchEvents[1], null);
      this.lastGpuMs = this.ctx.elapsed(this.launchEvents[0], this.launchEvents[1]);
    }
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
      const x0 = new Int32Array(headRows), conf = new Float64Array(headRows);
      this.ctx.download(x0, this.extras.x0!.ptr);
      this.ctx.download(conf, this.extras.confidence!.ptr);
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
    if (allocate && this.plan.headRowsOf !== undefined) {
      (this.extras.x0 ??= new DeviceBuffer(this.ctx, 'x0')).ensure(rows * 4);
      (this.extras.confidence ??= new DeviceBuffer(this.ctx, 'confidence')).ensure(rows * 8);
    }
    const x0 = this.extras.x0, conf = this.extras.confidence;
    if (!x0 || !conf || x0.bytes < rows * 4 || conf.bytes < rows * 8) throw new Error(`cuda: no head decisions for ${rows} rows (headOutputs is '${this.plan.headOutputs}')`);
    return { x0: x0.ptr, confidence: conf.ptr };
  }

  /**
   * The greedy decode step on the device (CudaDecodeStep), or why not: the head must compute
   * x0 and confidence, and the selection graph must lower to select_scatter.
   */
  deviceDecodeStep(select: Graph, canvas: Int32Array, batch: number, maskId: number): DeviceDecodeStep | string {
    if (!env.deviceSelect) return 'FASTDLLM_DEVICE_SELECT=0';
    const win = this.stepKernels.find((k) => k.kernel.family === 'decode_window');
    const sel = this.stepKernels.find((k) => k.kernel.family === 'select_scatter');
    if (!win || !sel) return `the plan has no decode-step kernels (headOutputs '${this.plan.headOutputs}')`;
    const lowered = lowerSelectGraph(select);
    if (typeof lowered === 'string') return lowered;
    return new CudaDecodeStep(this.ctx, this, win, sel, lowered, batch, canvas.length / batch, maskId, canvas);
  }

  /**
   * Launches a sequence of kernels whose parameters are set. With graphs on (and no per-kernel
   * profiling or poisoning), a sequence seen before replays its captured graph: its key holds
   * every kernel's name, grid and parameter values, so a replay is exactly the launches it
   * stands for (device buffers are read when it runs, as direct launches would read them).
   */
  private launchAll(seq: { lk: LoadedKernel; grid: number[] }[], ev0: bigint | null, ev1: bigint | null): void {
    if (!this.graphs || ev0 || this.poison) {
      for (const { lk, grid } of seq) {
        const k = lk.kernel;
        if (ev0) this.ctx.record(ev0, null);
        this.ctx.launch(lk.fn, grid, k.block, 0, lk.params, null, k.name);
        if (ev0 && ev1) {
          this.ctx.record(ev1, null);
          const ms = this.ctx.elapsed(ev0, ev1);
          this.lastProfile.push({ name: k.name, ms });
          debugLog(2, `  ${k.name} grid [${grid}] ${ms.toFixed(3)} ms`);
        }
      }
      return;
    }
    // A blocking stream: the default-stream copies before and after order against it.
    const stream = (this.stream ??= this.ctx.createStream());
    const key = seq.map(({ lk, grid }) => `${lk.kernel.name}[${grid}](${lk.params.key})`).join(';');
    let exec = this.graphExecs.get(key);
    if (exec !== undefined) {
      this.graphExecs.delete(key); // re-insert: most recently used last
      this.graphStats.replays++;
    } else {
      this.ctx.beginCapture(stream);
      try {
        for (const { lk, grid } of seq) this.ctx.launch(lk.fn, grid, lk.kernel.block, 0, lk.params, stream, lk.kernel.name);
      } finally {
        exec = this.ctx.endCapture(stream);
      }
      this.graphStats.captures++;
      if (this.graphExecs.size >= MAX_GRAPHS) {
        const [oldKey, oldExec] = this.graphExecs.entries().next().value!;
        this.graphExecs.delete(oldKey);
        this.ctx.destroyGraph(oldExec);
      }
    }
    this.graphExecs.set(key, exec);
    this.ctx.graphLaunch(exec, stream);
  }

  /** A state's device buffer: allocated zeroed the first time its host buffer is seen. */
  private stateBuffer(t: HostTensor, dtype: DeviceDType, name: string): bigint {
    const bytes = t.data.length * DEVICE_BYTES[dtype];
    const have = this.stateBufs.get(t.data);
    if (have) {
      if (have.bytes !== bytes) throw new Error(`state '${name}': its host buffer was first seen with ${have.bytes} device bytes, now ${bytes}`);
      return have.ptr;
    }
    const ptr = this.ctx.alloc(bytes, `state '${name}' [${t.shape}]`);
    this.ctx.zero(ptr, bytes);
    this.stateBufs.set(t.data, { ptr, bytes });
    const token = {};
    this.liveStates.set(ptr, token);
    this.stateRegistry.register(t.data, ptr, token);
    return ptr;
  }

  /** Selection ops (never in a model's forward graph) run on the host: download, compute, upload. */
  private runHost(k: CudaKernel, ptrOf: (id: number) => bigint, d: DimResolver): void {
    const g = this.plan.graph;
    const node = g.node(k.nodes[0]);
    const kern = hostOpKernel(node);
    if (!kern) throw new Error(`cuda: no host kernel for ${node.op}`);
    const ins = node.inputs.map((i) => {
      const b = allocBuf(g.node(i).dtype, numel(d.shape(i)));
      this.ctx.download(b, ptrOf(i));
      return b;
    });
    const out = allocBuf(node.dtype, numel(d.shape(node.id)));
    kern(ins, node.inputs.map((i) => d.shape(i)), out, d.shape(node.id));
    this.ctx.upload(ptrOf(node.id), out);
  }

  /** A state's device contents as f32 (tests and debugging; the decode path never reads them back). */
  readState(t: HostTensor): Float32Array {
    const have = this.stateBufs.get(t.data);
    if (!have) throw new Error('readState: this state has not been used by the executor');
    if (have.bytes === t.data.length * 4) {
      const out = new Float32Array(t.data.length);
      this.ctx.download(out, have.ptr);
      return out;
    }
    const bits = new Uint16Array(t.data.length);
    this.ctx.download(bits, have.ptr);
    return fromBf16(bits);
  }

  /** Frees every device buffer this executor holds (its states included). */
  dispose(): void {
    for (const exec of this.graphExecs.values()) this.ctx.destroyGraph(exec);
    this.graphExecs.clear();
    for (const w of this.weights.values()) this.ctx.free(w.ptr);
    this.weights.clear();
    for (const b of [...this.inputBufs.values(), ...this.slots, ...this.scratch.values(), this.extras.x0, this.extras.confidence, ...[...this.ropeTables.values()].map((t) => t.buf)]) b?.release();
    for (const [p, token] of this.liveStates) {
      this.stateRegistry.unregister(token);
      this.ctx.free(p);
    }
    this.liveStates.clear();
    for (const lk of [...this.kernels, ...this.stepKernels]) lk.params.free();
  }
}

/**
 * Plans, compiles and loads a graph's kernels on the GPU and uploads its weights. The graph is
 * the fused forward graph a HostModel holds; `weightSource` is the same callback GraphExecutor
 * takes (f32 tensors by name; bf16 precision rounds them on upload).
 */
export async function createCudaExecutor(graph: Graph, weightSource: WeightSource, opts: CudaExecutorOptions = {}): Promise<CudaExecutor> {
  const ctx = opts.context ?? CudaContext.open(opts.device ?? 0);
  const precision = opts.precision ?? 'f32';
  const gemmConfig = opts.gemmConfig === undefined ? loadCudaTuning(cudaTuningFile(ctx.info, precision)) : opts.gemmConfig ?? undefined;
  const plan = planCuda(graph, { precision, headOutputs: opts.headOutputs ?? 'logits', gemmConfig });
  if (env.debug >= 3) debugLog(3, `cuda plan (${plan.precision}):\n${plan.kernels.map((k) => `  ${k.name}: ${k.fuses.join(' + ')} [nodes ${k.nodes.join(', ')}]`).join('\n')}`);
  const cache = opts.cache ?? new KernelCache();
  const kernels = await loadKernels(ctx, plan, cache, opts.compile ?? true);
  const stepKernels = await loadKernels(ctx, { ...plan, kernels: plan.stepKernels }, cache, opts.compile ?? true);
  const weights = uploadWeights(ctx, plan, weightSource, opts.packs);
  const temps = new Set<number>();
  const isTemp = (id: number) => {
    const r = plan.aliases.get(id) ?? id;
    const op = graph.node(r).op;
    return r === id && op !== 'input' && op !== 'state' && op !== 'param';
  };
  for (const k of plan.kernels) {
    for (const p of k.params) if (p.k === 'value' && isTemp(p.id)) temps.add(p.id);
    if (k.family === 'host') for (const v of [...k.reads, ...k.writes]) if (isTemp(v)) temps.add(v);
  }
  const slotPlan = new SlotPlan(plan, (id) => temps.has(id));
  debugLog(1, `cuda executor: ${plan.kernels.length} launches, ${fmtBytes([...weights.values()].reduce((s, w) => s + w.bytes, 0))} of weights, ${slotPlan.slotCount} temporary buffers`);
  return new CudaExecutor(ctx, plan, kernels, weights, slotPlan, opts.profile ?? env.debug >= 2, opts.poison ?? false, opts.graphs ?? env.cudaGraphs, stepKernels);
}
