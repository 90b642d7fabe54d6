import type { Graph, Node } from '../../ir/graph.ts';
import { elementwiseTable, isLeaf, type ComputeOp, type ElementwiseOp, type OpKind } from '../../ir/ops.ts';
import { numel } from '../../util/math.ts';
import type { Buf } from '../buffers.ts';
import type { HostBackend, NodeKernel } from '../kernel.ts';
import * as R from './ops.ts';
import { applySelectionRule, factorRule, thresholdRule, topkRule, type SelectionRule } from '../../ir/select-rule.ts';

const F32 = (b: Buf) => b as Float32Array;
const I32 = (b: Buf) => b as Int32Array;
const lastOf = (s: number[]) => s[s.length - 1];
const rowsOf = (s: number[]) => numel(s.slice(0, -1));

/** The ops every host backend runs from here (selection and bookkeeping; no generated kernel). */
type HostOp = 'softmax' | 'argmax' | 'confidence' | 'select_topk' | 'select_threshold' | 'select_factor' | 'mask_fill' | 'scatter_tokens';

/** Makes the kernel of one node of kind K from its attributes. */
type KernelMaker<K extends OpKind> = (node: Node<K>) => NodeKernel;

/** Kernels of the selection and bookkeeping ops, shared by every host backend. */
const HOST_KERNELS: { [K in HostOp]: KernelMaker<K> } = {
  softmax: ({ attrs: { precision } }) => ([x], [xs], out) => {
    const v = lastOf(xs), tmp = new Float64Array(v);
    for (let r = 0; r < rowsOf(xs); r++) { R.softmaxRow(x, r * v, v, tmp, precision); out.set(tmp, r * v); }
  },
  argmax: () => ([x], [xs], out) => { const v = lastOf(xs); for (let r = 0; r < rowsOf(xs); r++) out[r] = R.argmaxRow(x, r * v, v); },
  confidence: ({ attrs: { kind, precision } }) => ([x], [xs], out) => {
    const v = lastOf(xs), tmp = new Float64Array(kind === 'prob' ? 0 : v); // 'prob' needs no softmax row
    for (let r = 0; r < rowsOf(xs); r++) out[r] = R.confidenceRow(x, r * v, v, kind, precision, tmp);
  },
  // The select ops apply the one selection rule (ir/select-rule.ts), made once per kernel.
  select_topk: () => selectRows(topkRule(), true),
  select_threshold: ({ attrs: { threshold, precision } }) => selectRows(thresholdRule(threshold, precision), false),
  select_factor: ({ attrs: { factor } }) => selectRows(factorRule(factor), false),
  mask_fill: ({ attrs: { value } }) => ([x, keep], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = keep[i] ? x[i] : value; },
  scatter_tokens: () => ([canvas, pos, tok, sel], [cs, ps], out) => {
    out.set(canvas);
    const n = ps[1];
    for (let b = 0; b < ps[0]; b++) for (let j = 0; j < n; j++) if (sel[b * n + j]) out[b * cs[1] + pos[b * n + j]] = tok[b * n + j];
  },
};

/** The scalar function of each elementwise op (b is 0 for unary ops). */
export const REFERENCE_ELEMENTWISE: Record<ElementwiseOp, (a: number, b: number) => number> = {
  silu: (a) => R.silu(a),
  gelu: (a) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a))),
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  silu_mul: (a, b) => R.silu(a) * b,
};

const elementwise = (op: ElementwiseOp): NodeKernel => {
  const fn = REFERENCE_ELEMENTWISE[op];
  return ([x, y], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = fn(x[i], y ? y[i] : 0); };
};

/** Every computed op through its reference loop. */
const REFERENCE_KERNELS: { [K in ComputeOp]: KernelMaker<K> } = {
  ...HOST_KERNELS,
  embedding: () => ([t, ids], [ts], out) => R.embedding(F32(t), I32(ids), F32(out), ts[1], ts[0]),
  matmul: ({ attrs: a }) => (ins, [xs, ws], out) => {
    const bias = a.hasBias ? F32(ins[2]) : undefined;
    const res = a.hasResidual ? F32(ins[2 + Number(a.hasBias)]) : undefined;
    R.matmul(F32(ins[0]), F32(ins[1]), F32(out), rowsOf(xs), ws[0], ws[1], bias, res);
  },
  rmsnorm: ({ attrs: { eps } }) => ([x, w], [xs], out) => R.rmsnorm(F32(x), F32(w), F32(out), rowsOf(xs), lastOf(xs), eps),
  rope: ({ attrs: a }) => ([x, p], _s, out) => R.rope(F32(x), I32(p), F32(out), a.heads, a.headDim, a.theta),
  // In place: the executor hands the cache's own buffer in as `out`.
  cache_write: () => ([, win, start], [cs, ws], out) => R.cacheWrite(F32(out), F32(win), cs[0], cs[1], ws[1], cs[2], start[0]),
  repeat_kv: ({ attrs: a }) => ([x], [xs], out) => R.repeatKv(F32(x), F32(out), rowsOf(xs), a.kvHeads, a.headDim, a.repeats),
  attention: ({ attrs: a }) => ([q, k, v, m], [qs, ks, , ms], out) =>
    R.attention(F32(q), F32(k), F32(v), m as Uint8Array, F32(out), qs[0], qs[1], ms[1], ks[1], a.heads, a.kvHeads, a.headDim, a.scale),
  ...elementwiseTable((op) => () => elementwise(op)),
  gather_rows: () => ([x, rows], [xs], out) => R.gatherRows(F32(x), I32(rows), F32(out), xs[0], xs[1], xs[2]),
  logit_shift: () => ([x], [xs], out) => R.logitShift(F32(x), F32(out), xs[0], xs[1], xs[2]),
};

/** Tables the tests check for completeness against OpKind (test/ir/add-op.test.ts). */
export const REFERENCE_TABLES = { HOST_KERNELS, REFERENCE_KERNELS, REFERENCE_ELEMENTWISE } as const;

/** The kernel of a selection / bookkeeping node, or undefined for any other op. */
export function hostOpKernel(node: Node): NodeKernel | undefined {
  const make = (HOST_KERNELS as Partial<Record<OpKind, KernelMaker<OpKind>>>)[node.op];
  return make?.(node);
}

/** Every op through its reference loop. */
export function referenceKernel(node: Node): NodeKernel {
  if (isLeaf(node.op)) throw new Error(`reference backend: no kernel for op '${node.op}'`);
  return (REFERENCE_KERNELS[node.op as ComputeOp] as KernelMaker<OpKind>)(node);
}

/** The TypeScript reference backend: slow, obviously correct, needs no compiler. */
export const referenceBackend: HostBackend = {
  name: 'reference',
  prepare: async (_g: Graph) => ({ kernelFor: referenceKernel }),
};

/** A select op's kernel: `rule` applied to each row of the confidences (`perRowK`: the k input, top-k). */
function selectRows(rule: SelectionRule, perRowK: boolean): NodeKernel {
  return (ins, [cs], out) => {
    const [c, k] = ins;
    out.fill(0);
    for (let b = 0; b < cs[0]; b++) applySelectionRule(rule, c, b * cs[1], cs[1], perRowK ? k[b] : 0, out as Uint8Array);
  };
}
