import { GraphBuilder } from '../../src/ir/builder.ts';
import type { Graph } from '../../src/ir/graph.ts';
import { fuse } from '../../src/ir/passes/fuse.ts';
import { Rng, uniformWeights } from '../../src/io/random.ts';
import { declareForwardIO } from '../../src/models/define.ts';
import { lmHead, swigluAttentionLayer } from '../../src/models/blocks.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import { GraphExecutor, type WeightSource } from '../../src/runtime/executor.ts';
import { referenceBackend } from '../../src/runtime/reference/backend.ts';
import { fromBf16, toBf16 } from '../../src/runtime/cuda/weights.ts';

/** SEED=n replays a run; otherwise a fresh seed, printed with every failure. */
export const SEED = process.env.SEED ? Number(process.env.SEED) : Math.floor(Math.random() * 2 ** 31);

/** Values rounded through bf16 (so a bf16 run and its f32 reference read identical weights). */
export const bf16Round = (x: Float32Array) => fromBf16(toBf16(x));

/**
 * Random weights by name: norms near 1, matrices uniform with the given std (uniform: cheap for
 * billions of values). Deterministic in (seed, name).
 */
export function randomWeights(seed: number, std: (name: string) => number = () => 0.05, bf16 = false): WeightSource {
  const f = uniformWeights(seed, std);
  return (name, shape) => (bf16 ? bf16Round(f(name, shape)) : f(name, shape));
}

/** Dimensions of a small test model (odd sizes on purpose). */
export interface TinyDims { dModel: number; heads: number; kvHeads: number; mlp: number; vocab: number; bias: boolean; layers: number; theta?: number }

/** A LLaDA/Dream-shaped forward graph from the DSL blocks, fused as models are. */
export function tinyGraph(d: TinyDims, fused = true): Graph {
  const b = new GraphBuilder();
  const io = declareForwardIO(b);
  let h = b.embedding(b.param('wte', [d.vocab, d.dModel]), io.ids);
  const hd = d.dModel / d.heads;
  for (let l = 0; l < d.layers; l++) {
    const p = `l${l}.`;
    h = swigluAttentionLayer(b, io, h, l, {
      attnNorm: `${p}attn_norm`, q: `${p}q`, k: `${p}k`, v: `${p}v`, o: `${p}o`, mlpNorm: `${p}mlp_norm`, gate: `${p}gate`, up: `${p}up`, down: `${p}down`,
      ...(d.bias ? { qBias: `${p}q_bias`, kBias: `${p}k_bias`, vBias: `${p}v_bias` } : {}),
    }, { dModel: d.dModel, nHeads: d.heads, nKvHeads: d.kvHeads, headDim: hd, mlpHidden: d.mlp, eps: 1e-5, ropeTheta: d.theta ?? 10000 });
  }
  lmHead(b, io, h, 'ln_f', 'head', d.dModel, d.vocab, 1e-5);
  const g = b.build();
  return fused ? fuse(g) : g;
}

/** Zeroed KV-cache states of a graph for batch B and capacity Kmax. */
export function zeroStates(g: Graph, B: number, kmax: number): Record<string, HostTensor> {
  const s: Record<string, HostTensor> = {};
  for (const n of g.ofKind('state')) {
    const w = n.shape[2] as number;
    s[n.attrs.name] = { data: new Float32Array(B * kmax * w), shape: [B, kmax, w] };
  }
  return s;
}

/** Inputs of one forward call: random ids, positions start.., a random key mask (never all zero), random head rows. */
export function randomCall(rng: Rng, vocab: number, B: number, T: number, start: number, kLen: number, R: number, maskHoles = true): Record<string, HostTensor> {
  const ids = new Int32Array(B * T).map(() => Math.floor(rng.nextF64() * vocab));
  const positions = new Int32Array(B * T).map((_, i) => start + (i % T) + Math.floor(i / T));
  const keyMask = new Uint8Array(B * kLen).map((_, i) => (!maskHoles || i % kLen === kLen - 1 || rng.nextF64() > 0.2 ? 1 : 0));
  const headRows = new Int32Array(B * R).map(() => Math.floor(rng.nextF64() * T));
  return {
    ids: { data: ids, shape: [B, T] }, positions: { data: positions, shape: [B, T] }, start: { data: Int32Array.of(start), shape: [] },
    keyMask: { data: keyMask, shape: [B, kLen] }, headRows: { data: headRows, shape: [B, R] },
  };
}

export const referenceExecutor = (g: Graph, w: WeightSource) => GraphExecutor.create(g, referenceBackend, w);

/** Elementwise |a - r| <= atol + rtol |r| (NaN never passes), with the worst offender and the relative norm error. */
export function allclose(a: ArrayLike<number>, r: ArrayLike<number>, atol: number, rtol: number): { ok: boolean; bad: number; worst: string; relNorm: number; maxAbs: number } {
  let bad = 0, worstExcess = -Infinity, worst = '', num = 0, den = 0, maxAbs = 0;
  if (a.length !== r.length) return { ok: false, bad: -1, worst: `length ${a.length} vs ${r.length}`, relNorm: NaN, maxAbs: NaN };
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(a[i] - r[i]);
    const excess = d - (atol + rtol * Math.abs(r[i]));
    if (!(excess <= 0)) bad++;
    if (!(excess <= worstExcess)) { worstExcess = Number.isNaN(excess) ? Infinity : excess; worst = `[${i}] ${a[i]} vs ${r[i]}`; }
    num += (a[i] - r[i]) ** 2;
    den += r[i] ** 2;
    if (!(d <= maxAbs)) maxAbs = d;
  }
  return { ok: bad === 0, bad, worst, relNorm: Math.sqrt(num / Math.max(den, 1e-300)), maxAbs };
}

export const TOL = { f32: { atol: 1e-5, rtol: 1e-4 }, bf16: { atol: 1e-2, rtol: 1.6e-2 } } as const;

/** f64 softmax probability of the first maximum of a row, and that index. */
export function argmaxProb(row: ArrayLike<number>): { x0: number; p: number } {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
  let s = 0;
  for (let j = 0; j < row.length; j++) s += Math.exp(row[j] - row[best]);
  return { x0: best, p: 1 / s };
}

/** Odd-sized models the kernel tests run (and the nvcc check compiles). */
export const TEST_SHAPES: { name: string; dims: TinyDims }[] = [
  { name: 'GQA 3:1, bias, odd vocab', dims: { dModel: 72, heads: 3, kvHeads: 1, mlp: 88, vocab: 131, bias: true, layers: 2 } },
  { name: 'K not a multiple of 8', dims: { dModel: 36, heads: 2, kvHeads: 2, mlp: 44, vocab: 70, bias: false, layers: 1 } },
  { name: 'head dim 128', dims: { dModel: 256, heads: 2, kvHeads: 1, mlp: 136, vocab: 200, bias: true, layers: 1, theta: 500000 } },
];

/** A shape whose every GEMM (K 256) splits in 2 or 4 k ranges of 64: the split-K checks. */
export const SPLIT_SHAPE: { name: string; dims: TinyDims } = { name: 'split-K GEMMs', dims: { dModel: 256, heads: 2, kvHeads: 1, mlp: 256, vocab: 150, bias: true, layers: 1 } };

/** Every GEMM but the head split in `splitK` (PlanOptions.gemmConfig). */
export const splitKConfig = (splitK: number) => () => ({ core: 'mma' as const, bm: 32, bn: 64, bk: 64, stages: 3, splitK });

/** A one-layer graph whose intermediates are outputs, so the fusion pass must leave them to the fallbacks. */
export function fallbackGraph(d: number, heads: number, kvHeads: number, vocab: number) {
  const b = new GraphBuilder();
  const io = declareForwardIO(b);
  const hd = d / heads, kv = kvHeads * hd;
  const h = b.embedding(b.param('wte', [vocab, d]), io.ids);
  const a = b.rmsnorm(h, b.param('n1', [d]), 1e-5);
  b.output('a', a);
  const q = b.matmul(a, b.param('wq', [d, d]));
  b.output('q', q);
  const qr = b.rope(q, io.positions, heads, hd, 10000);
  const kr = b.rope(b.matmul(a, b.param('wk', [kv, d])), io.positions, kvHeads, hd, 10000);
  b.output('kr', kr);
  let kc = b.cacheWrite(b.state('cache.k.0', 'f32', ['B', 'Kmax', kv]), kr, io.start);
  let vc = b.cacheWrite(b.state('cache.v.0', 'f32', ['B', 'Kmax', kv]), b.matmul(a, b.param('wv', [kv, d])), io.start);
  if (kvHeads < heads) {
    kc = b.repeatKv(kc, kvHeads, hd, heads / kvHeads);
    vc = b.repeatKv(vc, kvHeads, hd, heads / kvHeads);
  }
  const o = b.attention(qr, kc, vc, io.keyMask, { heads, kvHeads: heads, headDim: hd, scale: 1 / Math.sqrt(hd) });
  const h2 = b.add(h, b.matmul(o, b.param('wo', [d, d])));
  b.output('gelu', b.gelu(h2));
  const act = b.mul(b.silu(b.matmul(h2, b.param('wg', [20, d]))), b.matmul(h2, b.param('wu', [20, d])));
  const h3 = b.add(h2, b.matmul(act, b.param('wd', [d, 20])));
  const rows = b.gatherRows(h3, io.headRows);
  b.output('rows', rows);
  const logits = b.matmul(b.rmsnorm(rows, b.param('ln_f', [d]), 1e-5), b.param('head', [vocab, d]));
  b.output('logits', logits);
  b.output('shifted', b.logitShift(logits));
  return b.build();
}

export { Rng };

