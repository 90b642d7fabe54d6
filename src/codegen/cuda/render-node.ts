import type { Node } from '../../ir/graph.ts';
import { elementwiseTable, isLeaf, type ComputeOp, type ElementwiseOp, type OpKind } from '../../ir/ops.ts';
import { distinctOps, I, P, type PlanBuilder } from './plan-builder.ts';
import { ropeTable } from './render-gemm.ts';
import { attentionShim, copyRowsShim, elementwiseShim, embedShim, repeatKvShim, rmsnormShim, ropeShim, type Shim } from './small-kernels.ts';
import { attentionValid, defaultAttentionConfig } from './tuning.ts';
import type { CudaKernel, DeviceDType, IntExpr, ParamSpec } from './types.ts';

const MISC = ['fd_common.cuh', 'fd_misc.cuh'];

/** What a node renderer returns: the shim, its templates, params, grid and block, and overrides. */
type NodeKernelParts = [shim: Shim, templates: string[], params: ParamSpec[], grid: [IntExpr, IntExpr, IntExpr], block: number, extra?: Partial<CudaKernel>];

/** Renders one node of kind K; `out` is the storage of its result. */
type NodeRenderer<K extends OpKind> = (b: PlanBuilder, n: Node<K>, out: DeviceDType) => NodeKernelParts;

/**
 * How the CUDA target runs each op outside a GEMM: a renderer, 'host' (selection bookkeeping,
 * run by the executor through runtime/reference's host kernels; never in a model's forward
 * graph), 'gemm' (always grouped into a GEMM kernel by groups.ts), or 'none' (no CUDA kernel).
 */
type NodeRule<K extends OpKind> = NodeRenderer<K> | 'host' | 'gemm' | 'none';

const one = I.c(1);

const elementwise = (b: PlanBuilder, n: Node<ElementwiseOp>, out: DeviceDType): NodeKernelParts => {
  const ins = n.inputs.map((i) => b.operandDType(i));
  if (ins.some((d) => d !== ins[0])) throw new Error(`cuda ${n.op}: operands stored differently (${ins.join(', ')})`);
  const md = { op: n.op, in: ins[0], out };
  return [elementwiseShim(md), MISC, [b.operand(n.inputs[0]), n.inputs[1] !== undefined ? b.operand(n.inputs[1]) : P.null, P.v(n.id), P.i64(I.numel(n.id))],
    [I.ceil(I.numel(n.id), 256), one, one], 256, { meta: md }];
};

/** Per op: how the CUDA plan runs a node the fusion pass left alone. */
export const CUDA_NODE_KERNELS: { [K in ComputeOp]: NodeRule<K> } = {
  embedding(b, n) {
    const width = b.staticDim(n.inputs[0], 1, 'embedding table');
    const table = b.rawPack(n.inputs[0], b.precision);
    return [embedShim({ width, table: b.precision }), MISC, [P.w(table), P.v(n.inputs[1]), P.v(n.id), P.i32(I.numel(n.inputs[1]))],
      [I.numel(n.inputs[1]), one, one], 128, { family: 'embed', meta: { width, table: b.precision } }];
  },
  attention(b, n, out) {
    const a = n.attrs;
    const [q, kk, v, mask] = n.inputs;
    if (b.node(q).shape.length !== 3) throw new Error(`cuda attention: queries must be [B, T, H*hd], got rank ${b.node(q).shape.length}`);
    if (b.operandDType(kk) !== b.operandDType(v)) throw new Error('cuda attention: keys and values must be stored alike');
    const cfg = defaultAttentionConfig(a.headDim);
    const why = attentionValid(cfg, a.headDim);
    if (why) throw new Error(`cuda attention: ${why}`);
    const ad = { heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim, scale: a.scale, q: b.operandDType(q), cache: b.operandDType(kk), out, cfg };
    const rows = cfg.rpw * (cfg.threads / 32);
    return [attentionShim(ad), ['fd_common.cuh', 'fd_attention.cuh'],
      [b.operand(q), b.operand(kk), b.operand(v), b.operand(mask), P.v(n.id), P.i32(I.dim(q, 0)), P.i32(I.dim(q, 1)), P.i32(I.dim(mask, 1)), P.i32(I.dim(kk, 1))],
      [I.ceil(I.mul(I.dim(q, 1), a.heads / a.kvHeads), rows), I.c(a.kvHeads), I.dim(q, 0)], cfg.threads,
      { family: 'attention', config: { ...cfg }, meta: ad }];
  },
  rmsnorm(b, n, out) {
    const md = { width: b.staticDim(n.id, -1, 'rmsnorm'), eps: n.attrs.eps, in: b.operandDType(n.inputs[0]), out };
    const shim = rmsnormShim(md);
    if (b.operandDType(n.inputs[1]) !== 'f32') throw new Error('cuda rmsnorm: the weight must be f32');
    return [shim, MISC, [b.operand(n.inputs[0]), b.operand(n.inputs[1]), P.v(n.id), P.i32(I.rows(n.id))], [I.rows(n.id), one, one], 256, { family: 'rmsnorm', meta: md }];
  },
  ...elementwiseTable(() => elementwise),
  gather_rows(b, n, out) {
    const [x, rows] = n.inputs;
    const md = { mode: 'gather' as const, width: b.staticDim(x, 2, 'gather_rows'), in: b.operandDType(x), out };
    return [copyRowsShim(md), MISC, [b.operand(x), P.v(rows), P.v(n.id), P.i32(I.dim(x, 1)), P.i32(I.dim(rows, 1)), P.i32(I.c(0)), P.i32(I.c(0))],
      [I.dim(rows, 1), I.dim(x, 0), one], 128, { family: 'copy_rows', meta: md }];
  },
  logit_shift(b, n, out) {
    const x = n.inputs[0];
    const md = { mode: 'shift' as const, width: b.staticDim(x, 2, 'logit_shift'), in: b.operandDType(x), out };
    return [copyRowsShim(md), MISC, [b.operand(x), P.null, P.v(n.id), P.i32(I.dim(x, 1)), P.i32(I.c(1)), P.i32(I.c(0)), P.i32(I.c(0))],
      [I.dim(x, 1), I.dim(x, 0), one], 128, { family: 'copy_rows', meta: md }];
  },
  cache_write(b, n, out) {
    const [cache, win, start] = n.inputs;
    if (b.node(start).op !== 'input') throw new Error('cuda cache_write: start must be a graph input');
    const md = { mode: 'cache_write' as const, width: b.staticDim(cache, 2, 'cache_write'), in: b.operandDType(win), out };
    return [copyRowsShim(md), MISC, [b.operand(win), P.null, P.v(n.id), P.i32(I.dim(win, 1)), P.i32(I.c(1)), P.i32(I.dim(cache, 1)), P.i32(I.scalar(start))],
      [I.dim(win, 1), I.dim(win, 0), one], 128, { family: 'copy_rows', reads: [win], meta: md }];
  },
  repeat_kv(b, n, out) {
    const a = n.attrs;
    const md = { kvHeads: a.kvHeads, headDim: a.headDim, repeats: a.repeats, in: b.operandDType(n.inputs[0]), out };
    return [repeatKvShim(md), MISC, [b.operand(n.inputs[0]), P.v(n.id), P.i32(I.rows(n.id))], [I.rows(n.id), one, one], 128, { family: 'repeat_kv', meta: md }];
  },
  rope(b, n, out) {
    const a = n.attrs;
    const md = { heads: a.heads, headDim: a.headDim, theta: a.theta, in: b.operandDType(n.inputs[0]), out };
    return [ropeShim(md), MISC, [b.operand(n.inputs[0]), P.v(n.inputs[1]), ropeTable(b, n.id), P.v(n.id), P.i32(I.rows(n.id))], [I.rows(n.id), one, one], 128, { family: 'rope', meta: md }];
  },
  matmul: 'gemm',
  softmax: 'host', argmax: 'host', confidence: 'host', select_topk: 'host', select_threshold: 'host', select_factor: 'host', scatter_tokens: 'host',
  // Only host selection graphs use mask_fill, and the CUDA target never plans those.
  mask_fill: 'none',
};

/** The kernel of one node the fusion pass left alone: embedding, attention, or a fallback. */
export function renderNodeKernel(b: PlanBuilder, id: number): CudaKernel {
  const n = b.node(id);
  const inputs = n.inputs.filter((i) => b.node(i).op !== 'param');
  const rule = isLeaf(n.op) ? 'none' : CUDA_NODE_KERNELS[n.op as ComputeOp];
  if (rule === 'host') {
    return { name: `host_${n.op}`, family: 'host', fuses: [n.op], nodes: [id], templates: [], shim: '', params: [], grid: [one, one, one], block: [1, 1, 1], reads: inputs, writes: [id], minArch: 0, config: {}, meta: {} };
  }
  if (rule === 'gemm' || rule === 'none') throw new Error(`cuda codegen: no kernel for op '${n.op}' (node #${id})`);
  const [shim, templates, params, grid, block, extra] = (rule as NodeRenderer<OpKind>)(b, n, b.dtype(id));
  return {
    name: shim.name, family: 'elementwise', fuses: distinctOps(b.g, [id]), nodes: [id], templates, shim: shim.shim, params,
    grid, block: [block, 1, 1], reads: inputs, writes: [id], minArch: 70, config: {}, meta: {}, ...extra,
  };
}
