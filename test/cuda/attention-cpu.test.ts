import { expect, it } from 'vitest';
import { bundleSource } from '../../src/codegen/cuda/module.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import { attentionShim } from '../../src/codegen/cuda/small-kernels.ts';
import type { AttentionConfig } from '../../src/codegen/cuda/tuning.ts';
import type { CudaKernel, DeviceDType } from '../../src/codegen/cuda/types.ts';
import { fromBf16, toBf16 } from '../../src/runtime/cuda/weights.ts';
import { attention } from '../../src/runtime/reference/ops.ts';
import { Rng, SEED, tinyGraph } from './gpu-helpers.ts';
import { buildHarness, bytes, lengthPrefixed, runHarness } from './cpu-threads/build.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

/**
 * The attention kernel's own CUDA source (templates/fd_attention.cuh, with the shim the codegen
 * instantiates it with) run on CPU threads (cpu-threads/cuda-shim.h: a thread per CUDA thread,
 * barriers for __syncthreads, the warp shuffles through per-warp slots). The emulated device
 * computes attention in f64, so only here (and on a GPU) do the kernel's f32 online softmax and
 * warp sums run: against the reference attention (GQA, masked keys, a row with three visible
 * keys, one with none; f32 and bf16), and bit for bit (f32, two chunk sizes) a row alone vs the
 * same row after P masked padding keys (P = 1, 5, 31, 33: not multiples of the chunk) and among
 * other rows of other paddings. The kernel starts its chunks at each row's first visible key, so
 * a row meets its keys in the same chunks and lanes wherever the batch puts it; chunks from cache
 * index 0 fail this (checked: X differs after every padding, in 1e-8..1e-7, for both chunk sizes).
 */
type Dt = DeviceDType;
interface AttnMeta { heads: number; kvHeads: number; headDim: number; scale: number; q: Dt; cache: Dt; out: Dt; cfg: AttentionConfig }

// Head dim 32, 4 query heads over 2 kv heads (GQA); T = 5 window rows: 10 query rows per kv head,
// a partial row block.
const DIMS = { dModel: 128, heads: 4, kvHeads: 2, mlp: 64, vocab: 50, bias: false, layers: 1 };
const T = 5, KMAX = 128;

/** The attention kernel the codegen plans for the tiny model at `precision` (its shim, config and dtypes). */
function planned(precision: 'f32' | 'bf16'): CudaKernel {
  const ks = planCuda(tinyGraph(DIMS), { precision, headOutputs: 'x0conf' }).kernels.filter((k) => k.family === 'attention');
  expect(ks).toHaveLength(1);
  return ks[0];
}

/** The same kernel at another config of the tuning space: smaller chunks, two row blocks per kv head. */
function withConfig(k: CudaKernel, cfg: AttentionConfig): CudaKernel {
  const meta = { ...(k.meta as unknown as AttnMeta), cfg };
  const s = attentionShim(meta);
  return { ...k, name: s.name, shim: s.shim, meta: meta as unknown as Record<string, unknown>, config: { ...cfg } };
}

function build(kernels: CudaKernel[]): { bin: string; names: string[] } {
  const names = kernels.map((k) => k.name);
  const main = `
typedef void (*Entry)(const void*, const void*, const void*, const fd::u8*, void*, int, int, int, int);
static Entry entries[] = { ${names.join(', ')} };
int main() {
  int h[8];
  read_in(h, 8);  // entry, B, T, K, Kmax, grid x, grid y, threads
  std::vector<std::vector<unsigned char>> buf;
  void* p[5];
  read_buffers(5, buf, p);  // q, k, v, mask, out
  launch({(unsigned)h[5], (unsigned)h[6], (unsigned)h[1]}, h[7], [&] { entries[h[0]](p[0], p[1], p[2], (const fd::u8*)p[3], p[4], h[1], h[2], h[3], h[4]); });
  std::fwrite(buf[4].data(), 1, buf[4].size(), stdout);
  return 0;
}
`;
  return { bin: buildHarness('attention', `#include "cuda-shim.h"\n${bundleSource(kernels, 'attention on CPU threads')}\n${main}`), names };
}

/** One batch row's content: its queries [T, H*hd] and its n keys and values [n, Hk*hd] with their mask. */
interface Row { q: Float32Array; k: Float32Array; v: Float32Array; mask: Uint8Array }
/** A launch: q [B, T, H*hd], k/v [B, Kmax, Hk*hd], mask [B, K]. */
interface Launch { B: number; K: number; Kmax: number; q: Float32Array; k: Float32Array; v: Float32Array; mask: Uint8Array }

const HEADS = DIMS.heads, KVH = DIMS.kvHeads, HD = DIMS.dModel / DIMS.heads, QW = T * HEADS * HD, KW = KVH * HD;

/** Uniform in (-s, s), never 0. */
const rnd = (rng: Rng, n: number, s: number) => Float32Array.from({ length: n }, () => (rng.nextF64() - 0.5) * 2 * s || s / 3);

/** A row of n keys, `visible` (null: each key visible with probability 0.8) deciding its mask. */
function row(rng: Rng, n: number, visible: number[] | null = null): Row {
  const mask = Uint8Array.from({ length: n }, (_, j) => (visible ? visible.includes(j) : rng.nextF64() < 0.8) ? 1 : 0);
  return { q: rnd(rng, QW, 3), k: rnd(rng, n * KW, 1), v: rnd(rng, n * KW, 1), mask };
}

/**
 * Rows placed in one launch, row b's keys from cache index pads[b]; every other slot (padding,
 * the keys after a row's, the cache rows past K) holds large garbage under a 0 mask.
 */
function place(rows: Row[], pads: number[], K: number, Kmax: number, junk: Rng): Launch {
  const B = rows.length;
  const q = new Float32Array(B * QW), k = rnd(junk, B * Kmax * KW, 1000), v = rnd(junk, B * Kmax * KW, 1000), mask = new Uint8Array(B * K);
  rows.forEach((r, b) => {
    const n = r.mask.length;
    if (pads[b] + n > K || K > Kmax) throw new Error('row does not fit');
    q.set(r.q, b * QW);
    k.set(r.k, (b * Kmax + pads[b]) * KW);
    v.set(r.v, (b * Kmax + pads[b]) * KW);
    mask.set(r.mask, b * K + pads[b]);
  });
  return { B, K, Kmax, q, k, v, mask };
}

/** A row alone: its keys from cache index 0, K = Kmax = its key count. */
const alone = (r: Row, junk: Rng) => place([r], [0], r.mask.length, r.mask.length, junk);

const store = (x: Float32Array, dt: Dt) => (dt === 'bf16' ? bytes(toBf16(x)) : bytes(x));
/** What the kernel reads of x when stored as dt. */
const asRead = (x: Float32Array, dt: Dt) => (dt === 'bf16' ? fromBf16(toBf16(x)) : x);
const elemBytes = (dt: Dt) => (dt === 'bf16' ? 2 : 4);
const toF32 = (b: Uint8Array, dt: Dt) => (dt === 'bf16' ? fromBf16(new Uint16Array(b.buffer, b.byteOffset, b.length / 2)) : new Float32Array(b.buffer, b.byteOffset, b.length / 4));

/** Runs one launch of kernel k (grid as render-node.ts plans it); returns the output's raw bytes. */
function run(h: { bin: string; names: string[] }, k: CudaKernel, L: Launch): Uint8Array {
  const m = k.meta as unknown as AttnMeta;
  const rows = m.cfg.rpw * (m.cfg.threads / 32);
  const gx = Math.ceil((T * m.heads / m.kvHeads) / rows);
  // The output starts as NaN bits (0xff bytes): a row the kernel does not write shows.
  const out = new Uint8Array(L.B * QW * elemBytes(m.out)).fill(0xff);
  const hdr = Int32Array.of(h.names.indexOf(k.name), L.B, T, L.K, L.Kmax, gx, m.kvHeads, m.cfg.threads);
  const bufs = [store(L.q, m.q), store(L.k, m.cache), store(L.v, m.cache), Buffer.from(L.mask), out];
  return runHarness(h.bin, Buffer.concat([bytes(hdr), ...lengthPrefixed(bufs)]));
}

/** The reference attention (f64 sums) of what the kernel reads. */
function reference(k: CudaKernel, L: Launch): Float32Array {
  const m = k.meta as unknown as AttnMeta;
  const out = new Float32Array(L.B * QW);
  attention(asRead(L.q, m.q), asRead(L.k, m.cache), asRead(L.v, m.cache), L.mask, out, L.B, T, L.K, L.Kmax, m.heads, m.kvHeads, m.headDim, m.scale);
  return out;
}

/** Row b's output bytes. */
const rowBytes = (k: CudaKernel, out: Uint8Array, b: number) => {
  const w = QW * elemBytes((k.meta as unknown as AttnMeta).out);
  return out.subarray(b * w, (b + 1) * w);
};

/** How many output elements differ in their bits, and the largest difference. */
function bitDiff(k: CudaKernel, a: Uint8Array, b: Uint8Array): { differ: number; maxAbs: number } {
  const dt = (k.meta as unknown as AttnMeta).out, x = toF32(a, dt), y = toF32(b, dt);
  let differ = 0, maxAbs = 0;
  const ea = elemBytes(dt);
  for (let i = 0; i < x.length; i++) {
    let same = true;
    for (let j = 0; j < ea; j++) if (a[i * ea + j] !== b[i * ea + j]) same = false;
    if (!same) { differ++; maxAbs = Math.max(maxAbs, Math.abs(x[i] - y[i])); }
  }
  return { differ, maxAbs };
}

describeGated(CXX, 'fd_attention.cuh (its CUDA source on CPU threads): the reference in f32, batch invariance bit for bit', () => {
  const f32 = planned('f32'), bf16 = planned('bf16');
  // A config the tuning space also holds: 16-key chunks, 8-row blocks (two per kv head here).
  const small = withConfig(f32, { bkv: 16, rpw: 2, threads: 128 });
  const kernels = [f32, bf16, small];
  let h: { bin: string; names: string[] } | null = null;
  const harness = () => (h ??= build(kernels));

  it('equals the reference attention: GQA, masked keys, a row with 3 visible keys, a row with none, garbage under the mask', () => {
    expect((f32.meta as unknown as AttnMeta).cfg.bkv, 'the planned chunk').toBe(32);
    const rng = new Rng(SEED), junk = new Rng(SEED + 1);
    const rows = [row(rng, 100), row(rng, 70, [9, 41, 66]), row(rng, 37), row(rng, 20, [])];
    const L = place(rows, [3, 40, 0, 17], 110, KMAX, junk);
    for (const k of kernels) {
      const m = k.meta as unknown as AttnMeta;
      const got = toF32(run(harness(), k, L), m.out), want = reference(k, L);
      // f32: the online softmax's f32 rounding (outputs are within (-1, 1); seen: 1.3e-7 at most);
      // bf16: the output's rounding besides (half an ulp is up to 2^-8 relative).
      const [abs, rel] = m.out === 'bf16' ? [1e-5, 2 ** -7] : [1e-6, 1e-5];
      let worst = 0, at = -1;
      for (let i = 0; i < want.length; i++) {
        const e = Math.abs(got[i] - want[i]) / (abs + rel * Math.abs(want[i]));
        if (!(e <= worst)) { worst = e; at = i; }
      }
      expect(worst, `${k.name}: element ${at} ${got[at]} vs ${want[at]} (SEED=${SEED})`).toBeLessThanOrEqual(1);
      // The row without visible keys is zeros, as the reference's.
      expect(Array.from(got.subarray(3 * QW, 4 * QW)).every((x) => x === 0), `${k.name}: all-masked row`).toBe(true);
    }
  }, 120_000);

  it('a row\'s output is bit for bit the same alone, after 1, 5, 31 or 33 masked padding keys, and among rows of other paddings', () => {
    const rng = new Rng(SEED + 2), junk = new Rng(SEED + 3);
    // X (90 keys) spans three 32-key chunks; Z has 3 visible keys in 3 chunks; W fits one chunk.
    const X = row(rng, 90), Y = row(rng, 37), Z = row(rng, 70, [2, 40, 66]), W = row(rng, 20);
    const contents = { X, Y, Z, W };
    // f32 outputs: a bf16 output's rounding would hide most of what a different order changes.
    for (const k of [f32, small]) {
      const solo = Object.fromEntries(Object.entries(contents).map(([n, r]) => [n, run(harness(), k, alone(r, junk))]));
      const same = (what: string, got: Uint8Array, want: Uint8Array) => {
        const d = bitDiff(k, got, want);
        expect(d, `${k.name}: ${what} vs alone: ${d.differ} of ${QW} outputs differ, by up to ${d.maxAbs} (SEED=${SEED})`).toEqual({ differ: 0, maxAbs: 0 });
      };
      for (const P of [1, 5, 31, 33]) {
        // Masked keys after the row's too; the cache longer than K.
        const K = Math.min(P + X.mask.length + 3, KMAX);
        same(`X after ${P} padding keys`, rowBytes(k, run(harness(), k, place([X], [P], K, KMAX, junk)), 0), solo.X);
      }
      const batches: [string[], number[]][] = [[['X', 'Y', 'Z', 'W'], [33, 1, 31, 5]], [['Y', 'Z', 'W', 'X'], [5, 33, 1, 31]]];
      for (const [names, pads] of batches) {
        const out = run(harness(), k, place(names.map((n) => contents[n as keyof typeof contents]), pads, KMAX, KMAX, junk));
        names.forEach((n, b) => same(`${n} as batch row ${b} of ${names.join('')} after ${pads[b]} padding keys`, rowBytes(k, out, b), solo[n]));
      }
    }
  }, 120_000);
});
