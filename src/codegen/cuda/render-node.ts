import type { OpAttrs } from '../../ir/ops.ts';
import { fusedOps, I, P, type PlanBuilder } from './plan-builder.ts';
import { ropeTable } from './render-gemm.ts';
import { attentionShim, copyRowsShim, elementwiseShim, embedShim, repeatKvShim, rmsnormShim, ropeShim, type Shim } from './small-kernels.ts';
import { attentionValid, defaultAttentionConfig } from './tuning.ts';
import type { CudaKernel, IntExpr, ParamSpec } from './types.ts';

const MISC = ['fd_common.cuh', 'fd_misc.cuh'];

/** Ops the CUDA target leaves to the host (selection bookkeeping; never in a model's forward graph). */
export const HOST_OPS = new Set(['softmax', 'argmax', 'confidence', 'select_topk', 'select_threshold', 'select_factor', 'scatter_tokens']);

/** The kernel of one node the fusion pass left alone: embedding, attention, or a fallback. */
export function renderNodeKernel(b: PlanBuilder, id: number): CudaKernel {
  const n = b.node(id);
  const inputs = n.inputs.filter((i) => b.node(i).op !== 'param');
  const k = (shim: Shim, templates: string[], params: ParamSpec[], grid: [IntExpr, IntExpr, IntExpr], block: number, extra: Partial<CudaKernel> = {}): CudaKernel => ({
    name: shim.name, family: 'elementwise', fuses: fusedOps(b.g, [id]), nodes: [id], templates, shim: shim.shim, params,
    grid, block: [block, 1, 1], reads: inputs, writes: [id], minArch: 70, config: {}, meta: {}, ...extra,
  });
  const one = I.c(1);
  const out = n.op === 'cache_write' ? b.dtype(id) : b.dtype(id);
  if (HOST_OPS.has(n.op)) {
    return { name: `host_${n.op}`, family: 'host', fuses: [n.op], nodes: [id], templates: [], shim: '', params: [], grid: [one, one, one], block: [1, 1, 1], reads: inputs, writes: [id], minArch: 0, config: {}, meta: {} };
  }
  switch (n.op) {
    case 'embedding': {
      const width = b.staticDim(n.inputs[0], 1, 'embedding table');
      const table = b.rawPack(n.inputs[0], b.precision);
      return k(embedShim({ width, table: b.precision }), MISC, [P.w(table), P.v(n.inputs[1]), P.v(id), P.i32(I.numel(n.inputs[1]))],
        [I.numel(n.inputs[1]), one, one], 128, { family: 'embed', meta: { width, table: b.precision } });
    }
    case 'attention': {
      const a = n.attrs as OpAttrs['attention'];
      const [q, kk, v, mask] = n.inputs;
      if (b.node(q).shape.length !== 3) throw new Error(`cuda attention: queries must be [B, T, H*hd], got rank ${b.node(q).shape.length}`);
      if (b.operandDType(kk) !== b.operandDType(v)) throw new Error('cuda attention: keys and values must be stored alike');
      const cfg = defaultAttentionConfig(a.headDim);
      const why = attentionValid(cfg, a.headDim);
      if (why) throw new Error(`cuda attention: ${why}`);
      const ad = { heads: a.heads, kvHeads: a.kvHeads, headDim: a.headDim, scale: a.scale, q: b.operandDType(q), cache: b.operandDType(kk), out, cfg };
      const shim = attentionShim(ad);
      const rows = cfg.rpw * (cfg.threads / 32);
      return k(shim, ['fd_common.cuh', 'fd_attention.cuh'],
        [b.operand(q), b.operand(kk), b.operand(v), b.operand(mask), P.v(id), P.i32(I.dim(q, 0)), P.i32(I.dim(q, 1)), P.i32(I.dim(mask, 1)), P.i32(I.dim(kk, 1))],
        [I.ceil(I.mul(I.dim(q, 1), a.heads / a.kvHeads), rows), I.c(a.kvHeads), I.dim(q, 0)], cfg.threads,
        { family: 'attention', config: { ...cfg }, meta: ad });
    }
    case 'rmsnorm': {
      const eps = (n.attrs as OpAttrs['rmsnorm']).eps;
      const md = { width: b.staticDim(id, -1, 'rmsnorm'), eps, in: b.operandDType(n.inputs[0]), out };
      const shim = rmsnormShim(md);
      if (b.operandDType(n.inputs[1]) !== 'f32') throw new Error('cuda rmsnorm: the weight must be f32');
      return k(shim, MISC, [b.operand(n.inputs[0]), b.operand(n.inputs[1]), P.v(id), P.i32(I.rows(id))], [I.rows(id), one, one], 256, { family: 'rmsnorm', meta: md });
    }
    case 'add': case 'mul': case 'silu': case 'silu_mul': {
      const ins = n.inputs.map((i) => b.operandDType(i));
      if (ins.some((d) => d !== ins[0])) throw new Error(`cuda ${n.op}: operands stored differently (${ins.join(', ')})`);
      const md = { op: n.op, in: ins[0], out };
      const shim = elementwiseShim(md);
      return k(shim, MISC, [b.operand(n.inputs[0]), n.inputs[1] !== undefined ? b.operand(n.inputs[1]) : P.null, P.v(id), P.i64(I.numel(id))],
        [I.ceil(I.numel(id), 256), one, one], 256, { meta: md });
    }
    case 'gather_rows': {
      const [x, rows] = n.inputs;
      const md = { mode: 'gather' as const, width: b.staticDim(x, 2, 'gather_rows'), in: b.operandDType(x), out };
      const shim = copyRowsShim(md);
      return k(shim, MISC, [b.operand(x), P.v(rows), P.v(id), P.i32(I.dim(x, 1)), P.i32(I.dim(rows, 1)), P.i32(I.c(0)), P.i32(I.c(0))],
        [I.dim(rows, 1), I.dim(x, 0), one], 128, { family: 'copy_rows', meta: md });
    }
    case 'logit_shift': {
      const x = n.inputs[0];
      const md = { mode: 'shift' as const, width: b.staticDim(x, 2, 'logit_shift'), in: b.operandDType(x), out };
      const shim = copyRowsShim(md);
      return k(shim, MISC, [b.operand(x), P.null, P.v(id), P.i32(I.dim(x, 1)), P.i32(I.c(1)), P.i32(I.c(0)), P.i32(I.c(0))],
        [I.dim(x, 1), I.dim(x, 0), one], 128, { family: 'copy_rows', meta: md });
    }
    case 'cache_write': {
      const [cache, win, start] = n.inputs;
      if (b.node(start).op !== 'input') throw new Error('cuda cache_write: start must be a graph input');
      const md = { mode: 'cache_write' as const, width: b.staticDim(cache, 2, 'cache_write'), in: b.operandDType(win), out };
      const shim = copyRowsShim(md);
      return k(shim, MISC, [b.operand(win), P.null, P.v(id), P.i32(I.dim(win, 1)), P.i32(I.c(1)), P.i32(I.dim(cache, 1)), P.i32(I.scalar(start))],
        [I.dim(win, 1), I.dim(win, 0), one], 128, { family: 'copy_rows', reads: [win], meta: md });
    }
    case 'repeat_kv': {
      const a = n.attrs as OpAttrs['repeat_kv'];
      const md = { kvHeads: a.kvHeads, headDim: a.headDim, repeats: a.repeats, in: b.operandDType(n.inputs[0]), out };
      const shim = repeatKvShim(md);
      return k(shim, MISC, [b.operand(n.inputs[0]), P.v(id), P.i32(I.rows(id))], [I.rows(id), one, one], 128, { family: 'repeat_kv', meta: md });
    }
    case 'rope': {
      const a = n.attrs as OpAttrs['rope'];
      const md = { heads: a.heads, headDim: a.headDim, theta: a.theta, in: b.operandDType(n.inputs[0]), out };
      const shim = ropeShim(md);
      return k(shim, MISC, [b.operand(n.inputs[0]), P.v(n.inputs[1]), ropeTable(b, id), P.v(id), P.i32(I.rows(id))], [I.rows(id), one, one], 128, { family: 'rope', meta: md });
    }
    default:
      throw new Error(`cuda codegen: no kernel for op '${n.op}' (node #${id})`);
  }
}
