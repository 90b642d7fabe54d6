import type { PackSpec } from '../../codegen/cuda/types.ts';
import { ropeInvFreq } from '../reference/ops.ts';
import { STORED_BYTES, type StoredFloat, type TensorReader } from '../tensor-reader.ts';
import { bf16OfF32Bits, bf16OfF32BitsInto, f16Table32 } from '../../util/half.ts';
import { numel } from '../../util/math.ts';

/**
 * Host-side packing of weights into the layout the generated GEMMs read (see PackSpec): parts
 * stacked (Q, K, V) or interleaved row by row (gate, up), RoPE heads reordered so that rows
 * i and i + hd/2 of a head become rows 2i and 2i + 1, missing parts zero.
 */
export function packWeight(spec: PackSpec, fetch: (param: string) => Float32Array): Float32Array {
  const width = Math.max(1, spec.cols);
  const out = new Float32Array(spec.rows * width);
  const parts = spec.parts.map((p) => {
    const data = p.param === null ? null : fetch(p.param);
    if (data && data.length !== p.rows * width) throw new Error(`pack ${spec.key}: '${p.param}' has ${data.length} values, expected ${p.rows} x ${width}`);
    return { ...p, data };
  });
  if (spec.interleave) {
    if (parts.length !== 2 || parts[0].rows !== parts[1].rows) throw new Error(`pack ${spec.key}: interleaving needs two parts of equal rows`);
    parts.forEach((p, k) => {
      if (!p.data) return;
      for (let r = 0; r < p.rows; r++) out.set(p.data.subarray(r * width, (r + 1) * width), (2 * r + k) * width);
    });
    return out;
  }
  let base = 0;
  for (const p of parts) {
    if (p.data) {
      if (p.ropeHeadDim > 0) {
        for (let r = 0; r < p.rows; r++) out.set(p.data.subarray(r * width, (r + 1) * width), (base + ropeRow(r, p.ropeHeadDim)) * width);
      } else {
        out.set(p.data, base * width);
      }
    }
    base += p.rows;
  }
  if (base !== spec.rows) throw new Error(`pack ${spec.key}: parts have ${base} rows, expected ${spec.rows}`);
  return out;
}

/**
 * Output bytes a streamed pack converts and hands on at a time (a chunk of its rows). Small
 * enough to stay in the CPU's caches between the read that fills it and the upload that sends
 * it: on the bench machine, reads from the page cache into a 32 MiB buffer ran at a third of the
 * speed of reads into a 1-4 MiB one (every byte went out to DRAM and back). 4 MiB still makes
 * few uploads (3,919 for LLaDA-8B) and holds two whole RoPE heads of 4096-wide f32 rows.
 */
const STREAM_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * The host buffers a streaming load reuses for every chunk of every pack (a chunk's stored bytes
 * and its packed output), grown to the largest chunk; `bytes` is what they hold.
 */
export class PackScratch {
  private src = new Uint8Array(0);
  private out = new ArrayBuffer(0);
  private views = new Map<string, Uint8Array[]>();

  get bytes(): number {
    return this.src.byteLength + this.out.byteLength;
  }

  source(bytes: number): Uint8Array {
    if (bytes > this.src.byteLength) this.src = new Uint8Array(bytes);
    return this.src.subarray(0, bytes);
  }

  output(dtype: 'f32' | 'bf16', n: number): Uint16Array | Float32Array {
    const bytes = n * (dtype === 'bf16' ? 2 : 4);
    if (bytes > this.out.byteLength) {
      this.out = new ArrayBuffer(bytes);
      this.views.clear();
    }
    return dtype === 'bf16' ? new Uint16Array(this.out, 0, n) : new Float32Array(this.out, 0, n);
  }

  /**
   * Views of `n` rows of `rowBytes` in the output buffer, the i-th at row `at(i)`: where a
   * scattered read puts a chunk's rows. Kept by `layout` (which names `at`) and size: every chunk
   * of a layer, and every layer, has the same layout, so the views (a million or so for LLaDA-8B)
   * are made once, not per chunk. Call after `output` has sized the buffer.
   */
  rows(layout: string, rowBytes: number, n: number, at: (i: number) => number): Uint8Array[] {
    const key = `${layout}/${rowBytes}/${n}`;
    let v = this.views.get(key);
    if (!v) this.views.set(key, (v = Array.from({ length: n }, (_, i) => new Uint8Array(this.out, at(i) * rowBytes, rowBytes))));
    return v;
  }
}

/**
 * packWeight, streamed: the pack's rows are read from `reader` in their stored dtype a chunk at a
 * time (about `chunkBytes` of output; whole RoPE heads), converted to the pack's dtype (bf16
 * rounded to nearest even, as toBf16), laid out (stacked, interleaved, heads reordered, missing
 * parts zero) and handed to `write(byteOffset, data)` before the next chunk overwrites them. So
 * the host holds one chunk, never a tensor, and a tensor stored in the pack's dtype is read
 * straight into the buffer that is uploaded, its rows scattered to their places by the read
 * itself when the pack reorders them: loading a bf16 model copies each byte once, from the file.
 * Gives packWeight's layout byte for byte.
 */
export function streamPack(spec: PackSpec, reader: TensorReader, shapeOf: (param: string) => readonly number[], write: (byteOffset: number, data: Uint16Array | Float32Array) => void, scratch: PackScratch, chunkBytes = STREAM_CHUNK_BYTES): void {
  const width = Math.max(1, spec.cols);
  const rowOut = width * (spec.dtype === 'bf16' ? 2 : 4);
  const parts = spec.parts.map((p) => {
    if (p.param === null) return { ...p, dt: null };
    const shape = shapeOf(p.param);
    if (numel(shape) !== p.rows * width) throw new Error(`pack ${spec.key}: '${p.param}' has ${numel(shape)} values, expected ${p.rows} x ${width}`);
    return { ...p, dt: reader.dtype(p.param, shape) };
  });
  const same = (dt: StoredFloat) => (dt === 'BF16' && spec.dtype === 'bf16') || (dt === 'F32' && spec.dtype === 'f32');
  const read = (p: (typeof parts)[number], r0: number, r1: number) => {
    const src = scratch.source((r1 - r0) * width * STORED_BYTES[p.dt!]);
    reader.readRows(p.param!, r0, r1, src);
    return src;
  };
  if (spec.interleave) {
    if (parts.length !== 2 || parts[0].rows !== parts[1].rows) throw new Error(`pack ${spec.key}: interleaving needs two parts of equal rows`);
    const chunk = Math.max(1, Math.floor(chunkBytes / (2 * rowOut)));
    for (let r0 = 0; r0 < parts[0].rows; r0 += chunk) {
      const r1 = Math.min(parts[0].rows, r0 + chunk), n = r1 - r0;
      const out = scratch.output(spec.dtype, 2 * n * width);
      parts.forEach((p, k) => {
        if (!p.dt) {
          for (let i = 0; i < n; i++) out.fill(0, (2 * i + k) * width, (2 * i + k + 1) * width);
          return;
        }
        if (same(p.dt)) {
          reader.readRows(p.param!, r0, r1, scratch.rows(`interleave ${k}`, rowOut, n, (i) => 2 * i + k));
          return;
        }
        const src = read(p, r0, r1);
        for (let i = 0; i < n; i++) convertStored(src, p.dt, i * width, out, (2 * i + k) * width, width);
      });
      write(2 * r0 * rowOut, out);
    }
    return;
  }
  let base = 0;
  for (const p of parts) {
    const hd = p.ropeHeadDim;
    if (hd > 0 && p.rows % hd !== 0) throw new Error(`pack ${spec.key}: '${p.param}' has ${p.rows} rows, not whole heads of ${hd}`);
    const rows = Math.max(1, Math.floor(chunkBytes / rowOut));
    const chunk = hd > 0 ? Math.max(hd, rows - (rows % hd)) : rows;
    for (let r0 = 0; r0 < p.rows; r0 += chunk) {
      const r1 = Math.min(p.rows, r0 + chunk), n = r1 - r0;
      const out = scratch.output(spec.dtype, n * width);
      if (!p.dt) {
        out.fill(0);
      } else if (same(p.dt)) {
        // Chunks are whole heads, so the reordering within a chunk is the same for every chunk.
        const dst = hd === 0 ? new Uint8Array(out.buffer, out.byteOffset, out.byteLength) : scratch.rows(`rope ${hd}`, rowOut, n, (i) => ropeRow(i, hd));
        reader.readRows(p.param!, r0, r1, dst);
      } else {
        const src = read(p, r0, r1);
        if (hd === 0) convertStored(src, p.dt, 0, out, 0, n * width);
        else for (let r = r0; r < r1; r++) convertStored(src, p.dt, (r - r0) * width, out, (ropeRow(r, hd) - r0) * width, width);
      }
      write((base + r0) * rowOut, out);
    }
    base += p.rows;
  }
  if (base !== spec.rows) throw new Error(`pack ${spec.key}: parts have ${base} rows, expected ${spec.rows}`);
}

/** `count` stored values from element `from` of `src` into `out` from `to`: widened exactly, or rounded to bf16 (nearest even). */
function convertStored(src: Uint8Array, dt: StoredFloat, from: number, out: Uint16Array | Float32Array, to: number, count: number): void {
  const off = src.byteOffset + from * STORED_BYTES[dt];
  if (out instanceof Float32Array) {
    if (dt === 'F32') out.set(new Float32Array(src.buffer, off, count), to);
    else if (dt === 'BF16') {
      const s = new Uint16Array(src.buffer, off, count), u = new Uint32Array(out.buffer, out.byteOffset + to * 4, count);
      for (let i = 0; i < count; i++) u[i] = s[i] << 16;
    } else {
      const s = new Uint16Array(src.buffer, off, count), t = f16Table32();
      for (let i = 0; i < count; i++) out[to + i] = t[s[i]];
    }
    return;
  }
  if (dt === 'BF16') {
    out.set(new Uint16Array(src.buffer, off, count), to);
    return;
  }
  if (dt === 'F32') {
    bf16OfF32BitsInto(new Uint32Array(src.buffer, off, count), out, count, to);
    return;
  }
  const s = new Uint16Array(src.buffer, off, count), t = new Uint32Array(f16Table32().buffer);
  for (let i = 0; i < count; i++) out[to + i] = bf16OfF32Bits(t[s[i]]);
}

/** Packed row of original row r: (head h, i + j*hd/2) -> h*hd + 2i + j. */
export function ropeRow(r: number, hd: number): number {
  const h = Math.floor(r / hd), l = r - h * hd, half = hd / 2;
  return h * hd + 2 * (l % half) + (l >= half ? 1 : 0);
}

/** bf16 bits of every value, rounded to nearest even (NaN kept quiet), as the device rounds. */
export function toBf16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  bf16OfF32BitsInto(new Uint32Array(x.buffer, x.byteOffset, x.length), out);
  return out;
}

/** f32 values of bf16 bits. */
export function fromBf16(b: Uint16Array): Float32Array {
  const u = new Uint32Array(b.length);
  for (let i = 0; i < b.length; i++) u[i] = b[i] << 16;
  return new Float32Array(u.buffer);
}

/**
 * RoPE's (cos, sin) for positions [0, count) and frequencies [0, hd/2), interleaved, computed
 * exactly as the reference does (angle = f32(f32(p) * inv_freq), then f32 cos and sin), so the
 * kernels rotate bit-for-bit like the CPU and need no trigonometry of their own.
 */
export function ropeCosSin(headDim: number, theta: number, count: number): Float32Array {
  const f = Math.fround, half = headDim / 2, inv = ropeInvFreq(headDim, theta);
  const out = new Float32Array(count * half * 2);
  for (let p = 0; p < count; p++) {
    for (let i = 0; i < half; i++) {
      const ang = f(f(p) * inv[i]);
      out[(p * half + i) * 2] = f(Math.cos(ang));
      out[(p * half + i) * 2 + 1] = f(Math.sin(ang));
    }
  }
  return out;
}
