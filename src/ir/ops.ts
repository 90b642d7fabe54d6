import type { DType } from './dtype.ts';
import { isFloat } from './dtype.ts';
import type { Dim, Shape } from './shape.ts';
import { dimEquals, shapeEquals, shapeToString } from './shape.ts';

/**
 * The one list of IR ops. Each entry has its attribute type and a rule that checks the
 * operands and infers the result type (tinygrad style: ops + validity rules side by side).
 * Semantics are stated on the builder methods in builder.ts; reference kernels live in
 * runtime/reference.
 */
export interface OpAttrs {
  input: { name: string };
  param: { name: string };
  /** Persistent buffer owned by the runtime (KV cache); updated in place by cache_write. */
  state: { name: string };
  embedding: Record<string, never>;
  matmul: { hasBias: boolean; hasResidual: boolean };
  rmsnorm: { eps: number };
  rope: { heads: number; headDim: number; theta: number };
  cache_write: Record<string, never>;
  repeat_kv: { kvHeads: number; headDim: number; repeats: number };
  attention: { heads: number; kvHeads: number; headDim: number; scale: number };
  silu: Record<string, never>;
  /** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu: Record<string, never>;
  add: Record<string, never>;
  mul: Record<string, never>;
  silu_mul: Record<string, never>;
  gather_rows: Record<string, never>;
  logit_shift: Record<string, never>;
  softmax: { precision: 'f32' | 'f64' };
  argmax: Record<string, never>;
  confidence: { kind: ConfidenceKind; precision: 'f32' | 'f64' };
  select_topk: Record<string, never>;
  select_threshold: { threshold: number; precision: 'f32' | 'f64' };
  select_factor: { factor: number };
  scatter_tokens: Record<string, never>;
  mask_fill: { value: number };
}

/** prob: softmax at the argmax; margin: top1 - top2 probability; neg_entropy: sum p log(p + 1e-10). */
export type ConfidenceKind = 'prob' | 'margin' | 'neg_entropy';

export type OpKind = keyof OpAttrs;

/** The leaves: values the runtime binds (inputs, weights, states); no op computes them. */
export type LeafOp = 'input' | 'param' | 'state';

/** Every op a kernel computes: what each per-op table (rule, reference, CPU, CUDA, checks) covers. */
export type ComputeOp = Exclude<OpKind, LeafOp>;

/** Whether `op` is a leaf (see LeafOp): no kernel runs it. Narrows, so the other branch may index the per-op tables. */
export function isLeaf(op: OpKind): op is LeafOp {
  return op === 'input' || op === 'param' || op === 'state';
}

/**
 * Elementwise ops and their operand counts. Each target keeps one small table keyed by
 * ElementwiseOp (reference scalar, C++ body, CUDA expression, emulated scalar), so a new
 * elementwise op needs one line in each and nothing else.
 */
export const ELEMENTWISE_ARITY = { silu: 1, gelu: 1, add: 2, mul: 2, silu_mul: 2 } as const satisfies Partial<Record<ComputeOp, 1 | 2>>;

/** The elementwise ops (see ELEMENTWISE_ARITY). */
export type ElementwiseOp = keyof typeof ELEMENTWISE_ARITY;

/** One entry per elementwise op, made by `make`: the per-op tables' rows for the elementwise ops. */
export function elementwiseTable<V>(make: (op: ElementwiseOp) => V): Record<ElementwiseOp, V> {
  return Object.fromEntries((Object.keys(ELEMENTWISE_ARITY) as ElementwiseOp[]).map((op) => [op, make(op)])) as Record<ElementwiseOp, V>;
}

/** Every op kind, as a value; a Record over it, so a kind missing here is a type error. */
const OP_KIND_SET: Record<OpKind, true> = {
  input: true, param: true, state: true, embedding: true, matmul: true, rmsnorm: true, rope: true, cache_write: true, repeat_kv: true,
  attention: true, silu: true, gelu: true, add: true, mul: true, silu_mul: true, gather_rows: true, logit_shift: true, softmax: true,
  argmax: true, confidence: true, select_topk: true, select_threshold: true, select_factor: true, scatter_tokens: true, mask_fill: true,
};

/** Every op kind, in declaration order (tests check each per-op table against it). */
export const OP_KINDS = Object.keys(OP_KIND_SET) as OpKind[];

/** What a rule sees of an operand. */
export interface ValueType {
  dtype: DType;
  shape: Shape;
}

export class IrValidationError extends Error {}

function fail(op: string, msg: string): never {
  throw new IrValidationError(`${op}: ${msg}`);
}

function need(op: string, ok: boolean, msg: string): void {
  if (!ok) fail(op, msg);
}

function lastDim(s: Shape): Dim {
  return s[s.length - 1];
}

function sameDim(op: string, a: Dim, b: Dim, what: string): void {
  need(op, dimEquals(a, b), `${what}: ${a} vs ${b}`);
}

function floatArg(op: string, v: ValueType, what: string): void {
  need(op, isFloat(v.dtype), `${what} must be a float tensor, got ${v.dtype}`);
}

function int32Arg(op: string, v: ValueType, what: string): void {
  need(op, v.dtype === 'i32', `${what} must be i32, got ${v.dtype}`);
}

function elementwise(op: string, a: ValueType, b: ValueType): ValueType {
  need(op, shapeEquals(a.shape, b.shape), `shapes differ ${shapeToString(a.shape)} vs ${shapeToString(b.shape)}`);
  need(op, a.dtype === b.dtype, `dtypes differ ${a.dtype} vs ${b.dtype}`);
  floatArg(op, a, 'operand');
  return a;
}

function unary(op: string, x: ValueType): ValueType {
  floatArg(op, x, 'x');
  return x;
}

type Rule<K extends OpKind> = (args: ValueType[], attrs: OpAttrs[K]) => ValueType;

/** Validity rule and type inference of every op except the leaves (input, param, state). */
export const OP_RULES: { [K in ComputeOp]: Rule<K> } = {
  embedding([table, ids]) {
    need('embedding', table.shape.length === 2, `table must be [V, D], got ${shapeToString(table.shape)}`);
    int32Arg('embedding', ids, 'ids');
    return { dtype: table.dtype, shape: [...ids.shape, table.shape[1]] };
  },
  matmul(args, a) {
    const [x, w] = args;
    need('matmul', args.length === 2 + Number(a.hasBias) + Number(a.hasResidual), 'operand count does not match hasBias/hasResidual');
    need('matmul', w.shape.length === 2, `weight must be [out, in], got ${shapeToString(w.shape)}`);
    sameDim('matmul', lastDim(x.shape), w.shape[1], 'input width vs weight in-dim');
    floatArg('matmul', x, 'x');
    const out: ValueType = { dtype: x.dtype, shape: [...x.shape.slice(0, -1), w.shape[0]] };
    let i = 2;
    if (a.hasBias) {
      const bias = args[i++];
      need('matmul', bias.shape.length === 1 && dimEquals(bias.shape[0], w.shape[0]), `bias must be [${w.shape[0]}]`);
    }
    if (a.hasResidual) {
      const r = args[i++];
      need('matmul', shapeEquals(r.shape, out.shape), `residual ${shapeToString(r.shape)} must match output ${shapeToString(out.shape)}`);
    }
    return out;
  },
  rmsnorm([x, w], a) {
    need('rmsnorm', w.shape.length === 1, 'weight must be 1-D');
    sameDim('rmsnorm', lastDim(x.shape), w.shape[0], 'width vs weight');
    need('rmsnorm', a.eps > 0, 'eps must be > 0');
    return x;
  },
  rope([x, pos], a) {
    need('rope', a.headDim % 2 === 0, `head dim ${a.headDim} must be even`);
    sameDim('rope', lastDim(x.shape), a.heads * a.headDim, 'width vs heads*headDim');
    int32Arg('rope', pos, 'positions');
    need('rope', shapeEquals(pos.shape, x.shape.slice(0, -1)), `positions ${shapeToString(pos.shape)} must be x's leading dims`);
    return x;
  },
  cache_write([cache, kv, start]) {
    need('cache_write', cache.shape.length === 3 && kv.shape.length === 3, 'cache and window must be [B, rows, width]');
    sameDim('cache_write', cache.shape[0], kv.shape[0], 'batch');
    sameDim('cache_write', cache.shape[2], kv.shape[2], 'width');
    int32Arg('cache_write', start, 'start');
    need('cache_write', start.shape.length === 0, 'start must be a scalar');
    return cache;
  },
  repeat_kv([kv], a) {
    sameDim('repeat_kv', lastDim(kv.shape), a.kvHeads * a.headDim, 'width vs kvHeads*headDim');
    need('repeat_kv', a.repeats >= 1, 'repeats must be >= 1');
    return { dtype: kv.dtype, shape: [...kv.shape.slice(0, -1), a.kvHeads * a.repeats * a.headDim] };
  },
  attention([q, k, v, keyMask], a) {
    need('attention', a.heads % a.kvHeads === 0, `heads ${a.heads} not a multiple of kv heads ${a.kvHeads}`);
    sameDim('attention', lastDim(q.shape), a.heads * a.headDim, 'query width');
    sameDim('attention', lastDim(k.shape), a.kvHeads * a.headDim, 'key width');
    need('attention', shapeEquals(k.shape, v.shape), 'keys and values differ in shape');
    need('attention', keyMask.dtype === 'bool' && keyMask.shape.length === 2, 'key mask must be bool [B, K]');
    sameDim('attention', keyMask.shape[0], q.shape[0], 'batch');
    return q;
  },
  silu: ([x]) => unary('silu', x),
  gelu: ([x]) => unary('gelu', x),
  add: ([a, b]) => elementwise('add', a, b),
  mul: ([a, b]) => elementwise('mul', a, b),
  silu_mul: ([a, b]) => elementwise('silu_mul', a, b),
  gather_rows([x, rows]) {
    need('gather_rows', x.shape.length === 3, 'x must be [B, T, D]');
    int32Arg('gather_rows', rows, 'rows');
    need('gather_rows', rows.shape.length === 2, 'rows must be [B, R]');
    sameDim('gather_rows', rows.shape[0], x.shape[0], 'batch');
    return { dtype: x.dtype, shape: [x.shape[0], rows.shape[1], x.shape[2]] };
  },
  logit_shift([x]) {
    need('logit_shift', x.shape.length === 3, 'logits must be [B, T, V]');
    return x;
  },
  softmax([x], a) {
    floatArg('softmax', x, 'x');
    return { dtype: a.precision, shape: x.shape };
  },
  argmax([x]) {
    floatArg('argmax', x, 'x');
    return { dtype: 'i32', shape: x.shape.slice(0, -1) };
  },
  confidence([x], a) {
    floatArg('confidence', x, 'logits');
    return { dtype: a.precision, shape: x.shape.slice(0, -1) };
  },
  select_topk([conf, k]) {
    floatArg('select_topk', conf, 'confidence');
    int32Arg('select_topk', k, 'k');
    need('select_topk', conf.shape.length === 2 && k.shape.length === 1, 'confidence must be [B, N] and k [B]');
    return { dtype: 'bool', shape: conf.shape };
  },
  select_threshold([conf], a) {
    floatArg('select_threshold', conf, 'confidence');
    need('select_threshold', a.threshold > 0 && a.threshold <= 1, `threshold ${a.threshold} outside (0, 1]`);
    return { dtype: 'bool', shape: conf.shape };
  },
  select_factor([conf], a) {
    floatArg('select_factor', conf, 'confidence');
    need('select_factor', a.factor > 0, `factor ${a.factor} must be > 0`);
    return { dtype: 'bool', shape: conf.shape };
  },
  mask_fill([x, keep]) {
    need('mask_fill', keep.dtype === 'bool' && shapeEquals(keep.shape, x.shape), 'keep must be bool of the same shape');
    return x;
  },
  scatter_tokens([canvas, pos, tokens, sel]) {
    int32Arg('scatter_tokens', canvas, 'canvas');
    int32Arg('scatter_tokens', pos, 'positions');
    int32Arg('scatter_tokens', tokens, 'tokens');
    need('scatter_tokens', sel.dtype === 'bool', 'selection must be bool');
    need('scatter_tokens', shapeEquals(pos.shape, tokens.shape) && shapeEquals(pos.shape, sel.shape), 'positions, tokens and selection must share a shape');
    return canvas;
  },
};

/** What an operand check sees of a node's operands at run time. */
export interface OperandValues {
  /** The values of operand i, or undefined where the target does not hold them on the host. */
  data(i: number): ArrayLike<number> | undefined;
  /** The resolved shape of operand i. */
  shape(i: number): readonly number[];
}

/** Target limits an operand check enforces: the CUDA RoPE table covers positions below maxPosition. */
export interface OperandLimits {
  maxPosition?: number;
}

/** An op's operand check. */
export type OperandCheck = (v: OperandValues, limits: OperandLimits) => void;

/** Every index of `data` inside [0, end), else a RangeError worded by `what`. */
function indicesIn(data: ArrayLike<number> | undefined, end: number, what: (x: number, i: number) => string): void {
  if (data) for (let i = 0; i < data.length; i++) if (data[i] < 0 || data[i] >= end) throw new RangeError(what(data[i], i));
}

/**
 * Run-time bounds of operand values that generated kernels do not check, one entry per op
 * (null: nothing to check). Every target runs them before a kernel reads an index, so bad input
 * is an error naming the value, never a stray memory access.
 */
export const OPERAND_CHECKS: { [K in ComputeOp]: OperandCheck | null } = {
  embedding: (v) => { const rows = v.shape(0)[0]; indicesIn(v.data(1), rows, (x, i) => `token id ${x} (at index ${i}) outside the vocabulary [0, ${rows})`); },
  gather_rows: (v) => { const t = v.shape(0)[1]; indicesIn(v.data(1), t, (x) => `head row ${x} outside the window [0, ${t})`); },
  cache_write(v) {
    const start = v.data(2), t = v.shape(1)[1], kmax = v.shape(0)[1];
    if (start && (start[0] < 0 || start[0] + t > kmax)) throw new RangeError(`cache write rows [${start[0]}, ${start[0] + t}) outside the cache's ${kmax} rows`);
  },
  attention(v) {
    const kLen = v.shape(3)[1], kmax = v.shape(1)[1];
    if (kLen > kmax) throw new RangeError(`attention over ${kLen} keys but the cache holds ${kmax} rows`);
  },
  rope: (v, { maxPosition }) => { if (maxPosition !== undefined) indicesIn(v.data(1), maxPosition, (x, i) => `position ${x} (at index ${i}) outside [0, ${maxPosition})`); },
  matmul: null, rmsnorm: null, repeat_kv: null, silu: null, gelu: null, add: null, mul: null, silu_mul: null, logit_shift: null,
  softmax: null, argmax: null, confidence: null, select_topk: null, select_threshold: null, select_factor: null, scatter_tokens: null, mask_fill: null,
};

/** The operand check of `op`, or undefined when it has none (leaves and most ops). */
export function operandCheck(op: OpKind): OperandCheck | undefined {
  if (isLeaf(op)) return undefined;
  return OPERAND_CHECKS[op] ?? undefined;
}

/**
 * Runs every node's operand check over a whole graph before anything launches (the CUDA
 * executor's way; the CPU backend checks node by node): `data(id)` is a value's host copy,
 * where there is one, and `shape(id)` its resolved shape.
 */
export function checkGraphOperands(nodes: readonly { op: OpKind; inputs: readonly number[] }[], data: (id: number) => ArrayLike<number> | undefined,
  shape: (id: number) => readonly number[], limits: OperandLimits = {}): void {
  for (const n of nodes) {
    // Runs every forward: only the few ops with a check build their accessors.
    const check = operandCheck(n.op);
    if (check) check({ data: (i) => data(n.inputs[i]), shape: (i) => shape(n.inputs[i]) }, limits);
  }
}
