import { describe, expect, it } from 'vitest';
import type { GemmDesc } from '../../src/codegen/cuda/gemm.ts';
import { bundleSource } from '../../src/codegen/cuda/module.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { DEVICE_BYTES, type CudaKernel } from '../../src/codegen/cuda/types.ts';
import { fromBf16, ropeCosSin, toBf16 } from '../../src/runtime/cuda/weights.ts';
import { Rng, SEED, SPLIT_SHAPE, splitKConfig, tinyGraph } from './gpu-helpers.ts';
import { buildHarness, bytes, lengthPrefixed, runHarness, splitLike } from './cpu-threads/build.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

/**
 * The bf16 tensor-core GEMM's own CUDA source run on CPU threads (cpu-threads/cuda-shim.h:
 * mma.sync as the warp's 16x8x16 fragment product, cp.async as a copy): split-K in 2 and 4 (the
 * partial pass, then the reduce running the epilogue) gives what the one-kernel GEMM gives, for
 * each GEMM of a layer (QKV with RoPE and the cache write, o-proj + residual, gate/up + SwiGLU,
 * down + residual), and the one-kernel GEMM matches a plain matmul where the epilogue is a
 * residual add. M = 40 rows: a partial row tile. And the LM head: gathered rows, RMSNorm, the
 * statistics epilogue and head_select give the argmax and softmax probability of its own logits.
 */
type Dt = keyof typeof DEVICE_BYTES;

/** Layer 0's four GEMM kernels (and a split plan's reduce kernels after each). */
function layerGemms(splitK: number): { main: CudaKernel; reduce?: CudaKernel }[] {
  const plan = planCuda(tinyGraph(SPLIT_SHAPE.dims), { precision: 'bf16', headOutputs: 'x0conf', ...(splitK > 1 ? { gemmConfig: splitKConfig(splitK) } : {}) });
  const ks = plan.kernels.filter((k) => k.family === 'gemm' || k.family === 'gemm_reduce');
  const out: { main: CudaKernel; reduce?: CudaKernel }[] = [];
  for (const k of ks) {
    if (k.family === 'gemm') out.push({ main: k });
    else out.at(-1)!.reduce = k;
  }
  return out.slice(0, 4);
}

function build(kernels: CudaKernel[]): string {
  const names = [...new Set(kernels.map((k) => k.name))];
  const sig = 'const void*, const int*, const float*, const void*, const float*, const float*, void*, void*, void*, const int*, const float*, void*, int, int, int, int, int';
  const main = `
typedef void (*Entry)(${sig});
static Entry entries[] = { ${names.join(', ')} };
int main() {
  int h[12];
  read_in(h, 12);  // main entry, reduce entry (-1: none), grid x y z, reduce grid x y, M T R Kmax start
  std::vector<std::vector<unsigned char>> buf;
  void* p[12];
  read_buffers(12, buf, p);
  auto run = [&](Entry e) { e(p[0], (const int*)p[1], (const float*)p[2], p[3], (const float*)p[4], (const float*)p[5], p[6], p[7], p[8], (const int*)p[9], (const float*)p[10], p[11], h[7], h[8], h[9], h[10], h[11]); };
  launch({(unsigned)h[2], (unsigned)h[3], (unsigned)h[4]}, 128, [&] { run(entries[h[0]]); });
  if (h[1] >= 0) launch({(unsigned)h[5], (unsigned)h[6], 1}, 128, [&] { run(entries[h[1]]); });
  write_buffers(buf);
  return 0;
}
`;
  return buildHarness('gemm', `#include "cuda-shim.h"\n${bundleSource(kernels, 'gemm on CPU threads')}\n${main}`);
}

const M = 40, KMAX = 48, START = 3;

/** Random inputs for one GEMM description (the same for every variant): 12 buffers in parameter order. */
function inputs(d: GemmDesc, rng: Rng): (Uint8Array | null)[] {
  const rnd = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rng.nextF64() - 0.5) * 2 * s);
  const store = (x: Float32Array, dt: Dt) => new Uint8Array(dt === 'bf16' ? toBf16(x).buffer : x.buffer);
  const outOf = (rows: number, width: number, dt: Dt) => bytes(Float32Array.from({ length: Math.ceil((rows * width * DEVICE_BYTES[dt]) / 4) }, (_, i) => -1000 - i));
  const segs = d.epi.kind === 'seg' ? d.epi.segs : [];
  const outs: (Uint8Array | null)[] = [null, null, null];
  if (d.epi.kind === 'glu') outs[0] = outOf(M, d.n / 2, d.epi.out);
  segs.forEach((g, i) => { outs[i] = outOf(g.cache ? KMAX : M, g.width, g.out); });
  const rope = segs.find((g) => g.rope)?.rope;
  const split = d.cfg.splitK ?? 1;
  return [
    store(rnd(M * d.k), d.a),
    null,
    d.norm ? bytes(rnd(d.k, 1.5)) : null,
    store(rnd(d.n * d.k, 0.1), 'bf16'),
    d.bias ? bytes(rnd(d.n, 0.2)) : null,
    d.res ? bytes(rnd(M * d.n)) : null,
    ...outs,
    rope ? bytes(Int32Array.from({ length: M }, (_, i) => START + i)) : null,
    rope ? bytes(ropeCosSin(rope.headDim, rope.theta, START + M + 1)) : null,
    split > 1 ? new Uint8Array(4 * split * M * (d.n + 1)) : null,
  ];
}

function run(bin: string, names: string[], k: { main: CudaKernel; reduce?: CudaKernel }, bufs: (Uint8Array | null)[]): Uint8Array[] {
  const d = k.main.meta as unknown as GemmDesc & { tiles: number };
  const split = d.cfg.splitK ?? 1;
  const h = Int32Array.of(names.indexOf(k.main.name), k.reduce ? names.indexOf(k.reduce.name) : -1, d.tiles, Math.ceil(M / d.cfg.bm), split,
    Math.ceil(Math.ceil(d.n / 2) / 128), M, M, M, 1, KMAX, START);
  return splitLike(runHarness(bin, Buffer.concat([bytes(h), ...lengthPrefixed(bufs)])), bufs);
}

const asF32 = (b: Uint8Array, dt: Dt) => (dt === 'bf16' ? fromBf16(new Uint16Array(b.buffer, b.byteOffset, b.length / 2)) : new Float32Array(b.buffer, b.byteOffset, b.length / 4));

function relNorm(a: Float32Array, r: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < r.length; i++) { num += (a[i] - r[i]) ** 2; den += r[i] ** 2; }
  return Math.sqrt(num / den);
}

describeGated(CXX, 'the mma GEMM\'s CUDA source on CPU threads', () => {
  it('split-K 2 and 4 give the one-kernel result; the one-kernel result matches a plain matmul', () => {
    const base = layerGemms(1), split2 = layerGemms(2), split4 = layerGemms(4);
    expect(split2.every((k) => k.reduce) && split4.every((k) => k.reduce)).toBe(true);
    const all = [...base, ...split2, ...split4].flatMap((k) => [k.main, ...(k.reduce ? [k.reduce] : [])]);
    const names = [...new Set(all.map((k) => k.name))];
    const bin = build(all);
    for (let i = 0; i < base.length; i++) {
      const d = base[i].main.meta as unknown as GemmDesc;
      const fuses = base[i].main.fuses.join('+');
      const want = run(bin, names, base[i], inputs(d, new Rng(SEED + i)));
      // Outputs: out0..2 (params 6-8) in their storage types.
      const segs = d.epi.kind === 'seg' ? d.epi.segs.map((g) => g.out) : [d.epi.kind === 'glu' ? d.epi.out : 'f32'];
      for (const variant of [split2[i], split4[i]]) {
        const got = run(bin, names, variant, inputs(variant.main.meta as unknown as GemmDesc, new Rng(SEED + i)));
        segs.forEach((dt, s) => {
          const a = asF32(got[6 + s], dt as Dt), r = asF32(want[6 + s], dt as Dt);
          // Only the summation order differs: bf16 outputs may round to the neighbour now and then.
          expect(relNorm(a, r), `${fuses} split ${(variant.main.meta as any).cfg.splitK} out${s} (SEED=${SEED})`).toBeLessThan(dt === 'bf16' ? 4e-3 : 1e-5);
        });
      }
      if (d.res && d.epi.kind === 'seg' && !d.norm) {
        // out = res + bf16(x) W^T, computed plainly.
        const bufs = inputs(d, new Rng(SEED + i));
        const x = asF32(bufs[0]!, d.a as Dt), w = asF32(bufs[3]!, 'bf16'), res = asF32(bufs[5]!, 'f32');
        const ref = new Float32Array(M * d.n);
        for (let m = 0; m < M; m++) for (let n = 0; n < d.n; n++) {
          let s = 0;
          for (let k = 0; k < d.k; k++) s += x[m * d.k + k] * w[n * d.k + k];
          ref[m * d.n + n] = Math.fround(Math.fround(s) + res[m * d.n + n]);
        }
        expect(relNorm(asF32(want[6], 'f32'), ref), `${fuses} vs a plain matmul (SEED=${SEED})`).toBeLessThan(1e-5);
      }
    }
  }, 300_000);
});

/** The LM head (gather + RMSNorm + matmul, statistics epilogue) and head_select on CPU threads. */
function buildHead(gemm: CudaKernel, select: CudaKernel): string {
  const main = `
int main() {
  int h[6];
  read_in(h, 6);  // grid x y, M T R, tiles
  std::vector<std::vector<unsigned char>> buf;
  void* p[14];
  read_buffers(14, buf, p);
  launch({(unsigned)h[0], (unsigned)h[1], 1}, 128, [&] { ${gemm.name}(p[0], (const int*)p[1], (const float*)p[2], p[3], (const float*)p[4], (const float*)p[5], p[6], p[7], p[8], (const int*)p[9], (const float*)p[10], p[11], h[2], h[3], h[4], 0, 0); });
  launch({(unsigned)((h[2] + 3) / 4), 1, 1}, 128, [&] { ${select.name}(p[11], h[5], h[2], (int*)p[12], (double*)p[13]); });
  write_buffers(buf);
  return 0;
}
`;
  return buildHarness('head', `#include "cuda-shim.h"\n${bundleSource([gemm, select], 'head on CPU threads')}\n${main}`);
}

describeGated(CXX, 'the LM head\'s CUDA source on CPU threads', () => {
  it('gathered rows, RMSNorm, bf16 matmul, then x0 and confidence from the tile statistics', () => {
    const dims = { ...SPLIT_SHAPE.dims, vocab: 333 }; // 6 column tiles, the last one partial
    const plan = planCuda(tinyGraph(dims), { precision: 'bf16', headOutputs: 'both' });
    const gemm = plan.kernels.find((k) => k.family === 'gemm' && (k.meta as unknown as GemmDesc).epi.kind === 'head')!;
    const select = plan.kernels.find((k) => k.family === 'head_select')!;
    const d = gemm.meta as unknown as GemmDesc & { tiles: number };
    const bin = buildHead(gemm, select);
    const rng = new Rng(SEED);
    const B = 2, T = 24, R = 9, Mh = B * R, K = d.k, V = d.n;
    const rnd = (n: number, s = 1) => Float32Array.from({ length: n }, () => (rng.nextF64() - 0.5) * 2 * s);
    const x = rnd(B * T * K), rows = Int32Array.from({ length: Mh }, () => Math.floor(rng.nextF64() * T)), normw = rnd(K, 1.5);
    const w = toBf16(rnd(V * K, 0.1));
    const bufs: (Buffer | null)[] = [bytes(x), bytes(rows), bytes(normw), bytes(w), null, null, bytes(new Float32Array(Mh * V)), null, null, null, null,
      Buffer.alloc(16 * Mh * d.tiles), bytes(new Int32Array(Mh)), bytes(new Float64Array(Mh))];
    const header = bytes(Int32Array.of(d.tiles, Math.ceil(Mh / d.cfg.bm), Mh, T, R, d.tiles));
    const got = splitLike(runHarness(bin, Buffer.concat([header, ...lengthPrefixed(bufs)])), bufs);
    const logits = new Float32Array(got[6].buffer), x0 = new Int32Array(got[12].buffer), conf = new Float64Array(got[13].buffer);
    // Logits vs a plain computation with the same roundings (A = bf16(x * normw)).
    const wf = fromBf16(w), ref = new Float32Array(Mh * V);
    for (let m = 0; m < Mh; m++) {
      const src = Math.floor(m / R) * T + rows[m];
      let ss = 0;
      const a = new Float32Array(K);
      for (let k = 0; k < K; k++) { const v = x[src * K + k]; ss += v * v; a[k] = v * normw[k]; }
      const aq = fromBf16(toBf16(a)), rs = 1 / Math.sqrt(ss / K + d.norm!.eps);
      for (let n = 0; n < V; n++) { let s = 0; for (let k = 0; k < K; k++) s += aq[k] * wf[n * K + k]; ref[m * V + n] = s * rs; }
    }
    expect(relNorm(logits, ref), `head logits (SEED=${SEED})`).toBeLessThan(1e-5);
    // x0 and confidence from the statistics equal the argmax and softmax probability of the kernel's own logits.
    for (let m = 0; m < Mh; m++) {
      const row = logits.subarray(m * V, (m + 1) * V);
      let best = 0;
      for (let n = 1; n < V; n++) if (row[n] > row[best]) best = n;
      let s = 0;
      for (let n = 0; n < V; n++) s += Math.exp(row[n] - row[best]);
      expect(x0[m], `row ${m} x0 (SEED=${SEED})`).toBe(best);
      expect(Math.abs(conf[m] - 1 / s) / (1 / s), `row ${m} confidence (SEED=${SEED})`).toBeLessThan(1e-12);
    }
  }, 300_000);
});
