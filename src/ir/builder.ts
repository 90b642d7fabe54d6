import type { DType } from './dtype.ts';
import { Graph, type Node } from './graph.ts';
import { IrValidationError, OP_RULES, type ComputeOp, type ConfidenceKind, type LeafOp, type OpAttrs } from './ops.ts';
import type { Shape } from './shape.ts';

/** A value under construction: a handle to a node of the builder's graph. */
export interface Tensor {
  readonly id: number;
  readonly dtype: DType;
  readonly shape: Shape;
}

/**
 * The DSL. Each method appends one validated node and returns its handle. Models are plain
 * TypeScript functions over a GraphBuilder; `build()` freezes the result into a Graph.
 */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly outputs: Record<string, number> = {};
  private readonly named = new Map<string, number>();

  /** A run-time input (token ids, positions, masks, row indices, scalars). */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    return this.leaf('input', name, dtype, shape);
  }

  /** A weight, loaded from the checkpoint under exactly this name. */
  param(name: string, shape: Shape, dtype: DType = 'f32'): Tensor {
    return this.leaf('param', name, dtype, shape);
  }

  /** A persistent buffer the runtime keeps between calls (KV cache), updated by cacheWrite. */
  state(name: string, dtype: DType, shape: Shape): Tensor {
    return this.leaf('state', name, dtype, shape);
  }

  /** out[..., :] = table[ids[...], :]. */
  embedding(table: Tensor, ids: Tensor): Tensor {
    return this.add_('embedding', [table, ids], {});
  }

  /** out = x W^T (+ bias) (+ residual); W is [out, in] as HF stores it. Accumulates in f32. */
  matmul(x: Tensor, w: Tensor, opts: { bias?: Tensor; residual?: Tensor } = {}): Tensor {
    const ins = [x, w];
    if (opts.bias) ins.push(opts.bias);
    if (opts.residual) ins.push(opts.residual);
    return this.add_('matmul', ins, { hasBias: !!opts.bias, hasResidual: !!opts.residual });
  }

  /** x * rsqrt(mean(x^2) + eps) * weight over the last axis, in f32. */
  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    return this.add_('rmsnorm', [x, weight], { eps });
  }

  /**
   * NeoX rotary embedding of each head at the given absolute positions:
   * t' = t cos + rotate_half(t) sin, inv_freq[i] = 1 / theta^(2i/hd) in f32, angle = f32(pos) * inv_freq.
   */
  rope(x: Tensor, positions: Tensor, heads: number, headDim: number, theta: number): Tensor {
    return this.add_('rope', [x, positions], { heads, headDim, theta });
  }

  /** Overwrites cache rows [start, start + T) with the window (in place); returns the updated cache. */
  cacheWrite(cache: Tensor, window: Tensor, start: Tensor): Tensor {
    return this.add_('cache_write', [cache, window, start], {});
  }

  /** GQA: head h of the result is kv head floor(h / repeats) (kv0, kv0, ..., kv1, ...: not tiled). */
  repeatKv(kv: Tensor, kvHeads: number, headDim: number, repeats: number): Tensor {
    return this.add_('repeat_kv', [kv], { kvHeads, headDim, repeats });
  }

  /**
   * Non-causal attention: every query row attends to key rows [0, K) where K is keyMask's
   * second dim and keyMask[b, j] is true; softmax(q k^T * scale) v per head, f32.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, keyMask: Tensor, a: OpAttrs['attention']): Tensor {
    return this.add_('attention', [q, k, v, keyMask], a);
  }

  silu(x: Tensor): Tensor {
    return this.add_('silu', [x], {});
  }

  /** GELU, tanh approximation (see OpAttrs['gelu']). */
  gelu(x: Tensor): Tensor {
    return this.add_('gelu', [x], {});
  }

  add(a: Tensor, b: Tensor): Tensor {
    return this.add_('add', [a, b], {});
  }

  mul(a: Tensor, b: Tensor): Tensor {
    return this.add_('mul', [a, b], {});
  }

  /** silu(a) * b, the SwiGLU product (what the fusion pass turns mul(silu(a), b) into). */
  siluMul(a: Tensor, b: Tensor): Tensor {
    return this.add_('silu_mul', [a, b], {});
  }

  /** out[b, r, :] = x[b, rows[b, r], :]: computes the LM head only where logits are needed. */
  gatherRows(x: Tensor, rows: Tensor): Tensor {
    return this.add_('gather_rows', [x, rows], {});
  }

  /** Dream's shift: out[:, 0] = x[:, 0], out[:, t] = x[:, t - 1]. */
  logitShift(x: Tensor): Tensor {
    return this.add_('logit_shift', [x], {});
  }

  softmax(x: Tensor, precision: 'f32' | 'f64' = 'f32'): Tensor {
    return this.add_('softmax', [x], { precision });
  }

  /** Index of the largest value on the last axis; the first index on ties. */
  argmax(x: Tensor): Tensor {
    return this.add_('argmax', [x], {});
  }

  /** Per-row confidence of logits (see ConfidenceKind), computed in `precision`. */
  confidence(logits: Tensor, kind: ConfidenceKind, precision: 'f32' | 'f64'): Tensor {
    return this.add_('confidence', [logits], { kind, precision });
  }

  /** The k[b] largest confidences of row b (-inf entries never); ties go to the lower index. */
  selectTopk(conf: Tensor, k: Tensor): Tensor {
    return this.add_('select_topk', [conf, k], {});
  }

  /** Every entry >= threshold, plus the row's single largest (first on ties); -inf never. */
  selectThreshold(conf: Tensor, threshold: number, precision: 'f32' | 'f64' = 'f64'): Tensor {
    return this.add_('select_threshold', [conf], { threshold, precision });
  }

  /** Fast-dLLM's factor rule (REFERENCE.md section 3), quirk for the last two included. */
  selectFactor(conf: Tensor, factor: number): Tensor {
    return this.add_('select_factor', [conf], { factor });
  }

  /** x where keep, else `value` (e.g. -inf for entries that are not candidates). */
  maskFill(x: Tensor, keep: Tensor, value: number): Tensor {
    return this.add_('mask_fill', [x, keep], { value });
  }

  /** canvas[b, pos[b, n]] = tokens[b, n] where sel[b, n]. */
  scatterTokens(canvas: Tensor, pos: Tensor, tokens: Tensor, sel: Tensor): Tensor {
    return this.add_('scatter_tokens', [canvas, pos, tokens, sel], {});
  }

  /** Names a graph output. */
  output(name: string, t: Tensor): void {
    if (name in this.outputs) throw new IrValidationError(`output '${name}' defined twice`);
    this.outputs[name] = t.id;
  }

  build(): Graph {
    return new Graph(this.nodes, this.outputs);
  }

  private leaf(op: LeafOp, name: string, dtype: DType, shape: Shape): Tensor {
    const key = `${op}:${name}`;
    if (this.named.has(key)) throw new IrValidationError(`${op} '${name}' declared twice`);
    const id = this.push({ op, inputs: [], attrs: { name }, dtype, shape });
    this.named.set(key, id);
    return this.handle(id);
  }

  private add_<K extends ComputeOp>(op: K, ins: Tensor[], attrs: OpAttrs[K]): Tensor {
    for (const t of ins) {
      if (this.nodes[t.id] === undefined || this.nodes[t.id].dtype !== t.dtype) {
        throw new IrValidationError(`${op}: operand #${t.id} does not belong to this builder`);
      }
    }
    const rule = OP_RULES[op] as (args: { dtype: DType; shape: Shape }[], a: OpAttrs[K]) => { dtype: DType; shape: Shape };
    const { dtype, shape } = rule(ins, attrs);
    return this.handle(this.push({ op, inputs: ins.map((t) => t.id), attrs, dtype, shape }));
  }

  private push(n: Omit<Node, 'id'>): number {
    const id = this.nodes.length;
    this.nodes.push({ id, ...n } as Node);
    return id;
  }

  private handle(id: number): Tensor {
    const n = this.nodes[id];
    return { id, dtype: n.dtype, shape: n.shape };
  }
}
