import type { Graph } from '../ir/graph.ts';
import { isLeaf } from '../ir/ops.ts';
import { resolveShape } from '../ir/shape.ts';
import { numel } from '../util/math.ts';
import { allocBuf, type Buf, type HostTensor } from './buffers.ts';
import type { HostBackend, NodeKernel, PreparedGraph } from './kernel.ts';
import type { ForwardRunOptions } from './loaded-model.ts';
import { env as knobs, debugLog } from '../env.ts';
import { recordOpTime } from './op-timer.ts';
import { lastTouch } from './liveness.ts';
import { bindRunInputs } from './bind-inputs.ts';

/** Supplies a weight by name, already checked against the declared shape and upcast to f32. */
export type WeightSource = (name: string, shape: number[]) => Float32Array;

/** What GraphExecutor does besides running: poisoning (see FASTDLLM_POISON). */
export interface GraphExecutorOptions {
  /** Fill every output buffer before its kernel runs (default FASTDLLM_POISON, else on). */
  poison?: boolean;
}

/** NaN for floats, INT32_MIN for i32, 0xFF for bool: what a kernel leaves where it forgot to write. */
function poisonBuf(b: Buf): void {
  if (b instanceof Float32Array || b instanceof Float64Array) b.fill(NaN);
  else if (b instanceof Int32Array) b.fill(-0x80000000);
  else b.fill(0xff);
}

/**
 * Runs a graph on the host, node by node, with buffers recycled by liveness (a value's buffer
 * returns to a size-keyed pool after its last reader). cache_write writes the state buffer in
 * place, so a step never copies the KV cache. Outputs are poisoned before their kernel runs, so
 * a kernel that skips part of its output shows NaN (or a sentinel) rather than stale values.
 */
export class GraphExecutor {
  private readonly pool = new Map<string, Buf[]>();
  /** Graph outputs' node ids, and the memory their views take in runs with reuseOutputs. */
  private readonly outputIds: Set<number>;
  private readonly outputMemory = new Map<number, Buf>();

  private constructor(
    readonly graph: Graph,
    private readonly kernels: (NodeKernel | null)[],
    private readonly weights: Map<number, Float32Array>,
    private readonly lastUse: number[],
    private readonly poison: boolean,
  ) {
    this.outputIds = new Set(Object.values(graph.outputs));
  }

  static async create(graph: Graph, backend: HostBackend, weightSource: WeightSource, opts: GraphExecutorOptions = {}): Promise<GraphExecutor> {
    return GraphExecutor.fromPrepared(graph, await backend.prepare(graph), weightSource, opts);
  }

  /** Binds weights and kernels of an already prepared graph (synchronous). */
  static fromPrepared(graph: Graph, prepared: PreparedGraph, weightSource: WeightSource, opts: GraphExecutorOptions = {}): GraphExecutor {
    const weights = new Map<number, Float32Array>();
    for (const n of graph.ofKind('param')) {
      if (n.shape.some((d) => typeof d !== 'number')) throw new Error(`param '${n.attrs.name}' has a symbolic shape`);
      const raw = weightSource(n.attrs.name, n.shape as number[]);
      weights.set(n.id, prepared.transformParam ? prepared.transformParam(n, raw) : raw);
    }
    // Node i is step i (nodes are in topological order, ids dense), touching itself and its inputs.
    const last = lastTouch(graph.nodes.map((n) => [n.id, ...n.inputs]), Object.values(graph.outputs));
    const lastUse = graph.nodes.map((n) => last.get(n.id)!);
    const kernels = graph.nodes.map((n) => (isLeaf(n.op) ? null : prepared.kernelFor(n)));
    return new GraphExecutor(graph, kernels, weights, lastUse, opts.poison ?? knobs.poison ?? true);
  }

  /**
   * Runs once. `states` buffers are updated in place; returns the named outputs (all of them:
   * `want` is for executors that read back). With `reuseOutputs` the outputs are views of one
   * buffer per output kept across runs (grown as needed), valid until the next such run.
   */
  run(inputs: Record<string, HostTensor>, states: Record<string, HostTensor> = {}, _want?: readonly string[], opts: ForwardRunOptions = {}): Record<string, HostTensor> {
    const g = this.graph;
    const { dims: env, tensors } = bindRunInputs(g, inputs, states);
    const bufs: (Buf | undefined)[] = new Array(g.nodes.length);
    const shapes: number[][] = new Array(g.nodes.length);
    const owned = new Array<boolean>(g.nodes.length).fill(false);
    for (const [id, t] of tensors) {
      bufs[id] = t.data;
      shapes[id] = t.shape;
    }
    for (const n of g.nodes) {
      if (n.op === 'input' || n.op === 'state') continue;
      if (n.op === 'param') {
        bufs[n.id] = this.weights.get(n.id)!;
        shapes[n.id] = n.shape as number[];
        continue;
      }
      const shape = resolveShape(n.shape, env);
      let out: Buf;
      if (n.op === 'cache_write') {
        out = bufs[n.inputs[0]]!; // in place
      } else if (opts.reuseOutputs && this.outputIds.has(n.id)) {
        out = this.outputView(n.id, n.dtype, numel(shape)); // not owned: never recycled by liveness
      } else {
        out = this.take(n.dtype, numel(shape));
        owned[n.id] = true;
      }
      if (this.poison && n.op !== 'cache_write') poisonBuf(out); // every fresh output; a state is written in place
      const t0 = knobs.debug >= 2 ? performance.now() : 0;
      this.kernels[n.id]!(n.inputs.map((i) => bufs[i]!), n.inputs.map((i) => shapes[i]), out, shape);
      if (knobs.debug >= 2) {
        const ms = performance.now() - t0;
        recordOpTime(n.op, ms);
        debugLog(2, `  %${n.id} ${n.op} [${shape}] ${ms.toFixed(3)} ms`);
      }
      bufs[n.id] = out;
      shapes[n.id] = shape;
      for (const i of n.inputs) {
        if (this.lastUse[i] === n.id && owned[i]) this.give(g.nodes[i].dtype, bufs[i]!);
      }
    }
    const result: Record<string, HostTensor> = {};
    for (const [name, id] of Object.entries(g.outputs)) result[name] = { data: bufs[id]!, shape: shapes[id] };
    return result;
  }

  /** A view of n elements of output `id`'s memory, grown (with headroom) when too small. */
  private outputView(id: number, dtype: string, n: number): Buf {
    let m = this.outputMemory.get(id);
    if (!m || m.length < n) {
      m = allocBuf(dtype as never, Math.max(n, Math.ceil(1.5 * (m?.length ?? 0))));
      this.outputMemory.set(id, m);
    }
    return m.subarray(0, n);
  }

  private take(dtype: string, n: number): Buf {
    const list = this.pool.get(`${dtype}:${n}`);
    return list?.pop() ?? allocBuf(dtype as never, n);
  }

  private give(dtype: string, b: Buf): void {
    const key = `${dtype}:${b.length}`;
    const list = this.pool.get(key);
    if (list) list.push(b);
    else this.pool.set(key, [b]);
  }
}
