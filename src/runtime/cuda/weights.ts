import type { PackSpec } from '../../codegen/cuda/types.ts';
import { ropeInvFreq } from '../reference/ops.ts';

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

/** Packed row of original row r: (head h, i + j*hd/2) -> h*hd + 2i + j. */
export function ropeRow(r: number, hd: number): number {
  const h = Math.floor(r / hd), l = r - h * hd, half = hd / 2;
  return h * hd + 2 * (l % half) + (l >= half ? 1 : 0);
}

/** bf16 bits of every value, rounded to nearest even (NaN kept quiet), as the device rounds. */
export function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < u.length; i++) {
    const v = u[i];
    if ((v & 0x7f800000) === 0x7f800000 && (v & 0x7fffff) !== 0) out[i] = ((v >>> 16) | 0x40) & 0xffff;
    else out[i] = ((v + 0x7fff + ((v >>> 16) & 1)) >>> 16) & 0xffff;
  }
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
