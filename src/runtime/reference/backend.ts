import type { Graph, Node } from '../../ir/graph.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import { numel } from '../../ir/shape.ts';
import type { Buf } from '../buffers.ts';
import type { HostBackend, NodeKernel } from '../kernel.ts';
import * as R from './ops.ts';

const F32 = (b: Buf) => b as Float32Array;
const I32 = (b: Buf) => b as Int32Array;
const lastOf = (s: number[]) => s[s.length - 1];
const rowsOf = (s: number[]) => numel(s.slice(0, -1));

/** Kernels of the selection and bookkeeping ops, shared by every host backend. */
export function hostOpKernel(node: Node): NodeKernel | undefined {
  switch (node.op) {
    case 'softmax': {
      const { precision } = node.attrs as OpAttrs['softmax'];
      return ([x], [xs], out) => {
        const v = lastOf(xs), tmp = new Float64Array(v);
        for (let r = 0; r < rowsOf(xs); r++) { R.softmaxRow(x, r * v, v, tmp, precision); out.set(tmp, r * v); }
      };
    }
    case 'argmax':
      return ([x], [xs], out) => { const v = lastOf(xs); for (let r = 0; r < rowsOf(xs); r++) out[r] = R.argmaxRow(x, r * v, v); };
    case 'confidence': {
      const { kind, precision } = node.attrs as OpAttrs['confidence'];
      return ([x], [xs], out) => {
        const v = lastOf(xs), tmp = new Float64Array(v);
        for (let r = 0; r < rowsOf(xs); r++) out[r] = R.confidenceRow(x, r * v, v, kind, precision, tmp);
      };
    }
    case 'select_topk':
      return ([c, k], [cs], out) => { out.fill(0); for (let b = 0; b < cs[0]; b++) R.selectTopkRow(c, b * cs[1], cs[1], k[b], out as Uint8Array); };
    case 'select_threshold': {
      const { threshold, precision } = node.attrs as OpAttrs['select_threshold'];
      return ([c], [cs], out) => { out.fill(0); for (let b = 0; b < cs[0]; b++) R.selectThresholdRow(c, b * cs[1], cs[1], threshold, precision, out as Uint8Array); };
    }
    case 'select_factor': {
      const { factor } = node.attrs as OpAttrs['select_factor'];
      return ([c], [cs], out) => { out.fill(0); for (let b = 0; b < cs[0]; b++) R.selectFactorRow(c, b * cs[1], cs[1], factor, out as Uint8Array); };
    }
    case 'mask_fill': {
      const { value } = node.attrs as OpAttrs['mask_fill'];
      return ([x, keep], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = keep[i] ? x[i] : value; };
    }
    case 'scatter_tokens':
      return ([canvas, pos, tok, sel], [cs, ps], out) => {
        out.set(canvas);
        const n = ps[1];
        for (let b = 0; b < ps[0]; b++) for (let j = 0; j < n; j++) if (sel[b * n + j]) out[b * cs[1] + pos[b * n + j]] = tok[b * n + j];
      };
    default:
      return undefined;
  }
}

/** Every op through its reference loop. */
export function referenceKernel(node: Node): NodeKernel {
  const host = hostOpKernel(node);
  if (host) return host;
  switch (node.op) {
    case 'embedding':
      return ([t, ids], [ts], out) => R.embedding(F32(t), I32(ids), F32(out), ts[1], ts[0]);
    case 'matmul': {
      const a = node.attrs as OpAttrs['matmul'];
      return (ins, [xs, ws], out) => {
        const bias = a.hasBias ? F32(ins[2]) : undefined;
        const res = a.hasResidual ? F32(ins[2 + Number(a.hasBias)]) : undefined;
        R.matmul(F32(ins[0]), F32(ins[1]), F32(out), rowsOf(xs), ws[0], ws[1], bias, res);
      };
    }
    case 'rmsnorm': {
      const { eps } = node.attrs as OpAttrs['rmsnorm'];
      return ([x, w], [xs], out) => R.rmsnorm(F32(x), F32(w), F32(out), rowsOf(xs), lastOf(xs), eps);
    }
    case 'rope': {
      const a = node.attrs as OpAttrs['rope'];
      return ([x, p], _s, out) => R.rope(F32(x), I32(p), F32(out), a.heads, a.headDim, a.theta);
    }
    case 'cache_write':
      // In place: the executor hands the cache's own buffer in as `out`.
      return ([, win, start], [cs, ws], out) => R.cacheWrite(F32(out), F32(win), cs[0], cs[1], ws[1], cs[2], start[0]);
    case 'repeat_kv': {
      const a = node.attrs as OpAttrs['repeat_kv'];
      return ([x], [xs], out) => R.repeatKv(F32(x), F32(out), rowsOf(xs), a.kvHeads, a.headDim, a.repeats);
    }
    case 'attention': {
      const a = node.attrs as OpAttrs['attention'];
      return ([q, k, v, m], [qs, ks, , ms], out) =>
        R.attention(F32(q), F32(k), F32(v), m as Uint8Array, F32(out), qs[0], qs[1], ms[1], ks[1], a.heads, a.kvHeads, a.headDim, a.scale);
    }
    case 'silu':
      return ([x], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = R.silu(x[i]); };
    case 'add':
      return ([x, y], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = x[i] + y[i]; };
    case 'mul':
      return ([x, y], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = x[i] * y[i]; };
    case 'silu_mul':
      return ([x, y], _s, out) => { for (let i = 0; i < x.length; i++) out[i] = R.silu(x[i]) * y[i]; };
    case 'gather_rows':
      return ([x, rows], [xs], out) => R.gatherRows(F32(x), I32(rows), F32(out), xs[0], xs[1], xs[2]);
    case 'logit_shift':
      return ([x], [xs], out) => R.logitShift(F32(x), F32(out), xs[0], xs[1], xs[2]);
    default:
      throw new Error(`reference backend: no kernel for op '${node.op}'`);
  }
}

/** The TypeScript reference backend: slow, obviously correct, needs no compiler. */
export const referenceBackend: HostBackend = {
  name: 'reference',
  prepare: async (_g: Graph) => ({ kernelFor: referenceKernel }),
};
