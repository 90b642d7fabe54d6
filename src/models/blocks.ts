import type { GraphBuilder, Tensor } from '../ir/builder.ts';
import { declareKvCache, type ForwardIO } from './define.ts';

/** Weight names of one pre-norm attention + SwiGLU layer (they differ between model families). */
export interface LayerWeightNames {
  attnNorm: string;
  q: string; k: string; v: string;
  qBias?: string; kBias?: string; vBias?: string;
  o: string;
  mlpNorm: string;
  gate: string; up: string; down: string;
}

export interface LayerDims {
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  mlpHidden: number;
  eps: number;
  ropeTheta: number;
}

/**
 * One layer of the LLaDA / Dream block, written in DSL ops:
 * h += attn(rope(norm(h) Wq + bq), cache(rope(norm(h) Wk + bk)), cache(norm(h) Wv + bv)) Wo;
 * h += (silu(norm(h) Wg) * norm(h) Wu) Wd. K/V of the window go into the cache first, then
 * queries attend over the cache rows the key mask allows.
 */
export function swigluAttentionLayer(b: GraphBuilder, io: ForwardIO, h: Tensor, layer: number, w: LayerWeightNames, d: LayerDims): Tensor {
  const qDim = d.nHeads * d.headDim;
  const kvDim = d.nKvHeads * d.headDim;
  const a = b.rmsnorm(h, b.param(w.attnNorm, [d.dModel]), d.eps);
  const proj = (name: string, out: number, bias?: string) =>
    b.matmul(a, b.param(name, [out, d.dModel]), bias ? { bias: b.param(bias, [out]) } : {});
  const q = b.rope(proj(w.q, qDim, w.qBias), io.positions, d.nHeads, d.headDim, d.ropeTheta);
  const k = b.rope(proj(w.k, kvDim, w.kBias), io.positions, d.nKvHeads, d.headDim, d.ropeTheta);
  const v = proj(w.v, kvDim, w.vBias);
  const cache = declareKvCache(b, layer, kvDim);
  let kc = b.cacheWrite(cache.k, k, io.start);
  let vc = b.cacheWrite(cache.v, v, io.start);
  const r = d.nHeads / d.nKvHeads;
  if (r > 1) {
    kc = b.repeatKv(kc, d.nKvHeads, d.headDim, r);
    vc = b.repeatKv(vc, d.nKvHeads, d.headDim, r);
  }
  const o = b.attention(q, kc, vc, io.keyMask, { heads: d.nHeads, kvHeads: d.nHeads, headDim: d.headDim, scale: 1 / Math.sqrt(d.headDim) });
  h = b.add(h, b.matmul(o, b.param(w.o, [d.dModel, qDim])));
  const f = b.rmsnorm(h, b.param(w.mlpNorm, [d.dModel]), d.eps);
  const gate = b.matmul(f, b.param(w.gate, [d.mlpHidden, d.dModel]));
  const up = b.matmul(f, b.param(w.up, [d.mlpHidden, d.dModel]));
  return b.add(h, b.matmul(b.mul(b.silu(gate), up), b.param(w.down, [d.dModel, d.mlpHidden])));
}

/** Final norm, then the LM head on the requested rows only. */
export function lmHead(b: GraphBuilder, io: ForwardIO, h: Tensor, normName: string, headName: string, dModel: number, vocab: number, eps: number): void {
  const rows = b.gatherRows(h, io.headRows);
  const n = b.rmsnorm(rows, b.param(normName, [dModel]), eps);
  b.output('logits', b.matmul(n, b.param(headName, [vocab, dModel])));
}
