/**
 * Bit-exact conversions between f32 and the 16-bit float formats stored in checkpoints.
 *
 * bf16 is the top half of an f32, so widening is a shift; narrowing rounds to nearest even,
 * as torch does. f16 decoding goes through a 64K-entry table built once (256 KB) because a
 * table lookup beats re-deriving exponent and mantissa for every one of ~10^9 weights.
 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** The f32 value of an IEEE half-precision bit pattern (subnormals, +-inf and NaN included). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    // Zero or subnormal: mant * 2^-24 is exact in f32.
    const v = mant * 2 ** -24;
    return sign ? -v : v;
  }
  if (exp === 0x1f) U32[0] = (sign << 16) | 0x7f800000 | (mant << 13);
  else U32[0] = (sign << 16) | ((exp - 15 + 127) << 23) | (mant << 13);
  return F32[0];
}

let f16Table: Float32Array | undefined;

/** A table mapping every f16 bit pattern to its f32 value. */
export function f16Table32(): Float32Array {
  if (!f16Table) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32(h);
    f16Table = t;
  }
  return f16Table;
}

/** The bf16 bit pattern nearest to `x` (ties to even); NaN stays a (quiet) NaN of the same sign. */
export function f32ToBf16Bits(x: number): number {
  F32[0] = x;
  return bf16OfF32Bits(U32[0]);
}

/** bf16 bits of the f32 whose bits are `u`: round to nearest even, NaN kept NaN (quiet bit set). */
export function bf16OfF32Bits(u: number): number {
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return ((u >>> 16) | 0x0040) & 0xffff;
  const lsb = (u >>> 16) & 1;
  return ((u + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** bf16 bits (bf16OfF32Bits) of the first `n` f32 bit patterns of `bits`, into `out` from `to`. */
export function bf16OfF32BitsInto(bits: Uint32Array, out: Uint16Array, n = bits.length, to = 0): void {
  for (let i = 0; i < n; i++) out[to + i] = bf16OfF32Bits(bits[i]);
}

/** The f32 value of a bf16 bit pattern. */
export function bf16BitsToF32(b: number): number {
  U32[0] = (b & 0xffff) << 16;
  return F32[0];
}

/** The f16 bit pattern nearest to `x` (ties to even, overflow to inf, underflow through subnormals). */
export function f32ToF16Bits(x: number): number {
  F32[0] = x;
  const u = U32[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Below 2^-25 everything rounds to (signed) zero.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rem > half || (rem === half && (r & 1) !== 0)) r++;
    return sign | r; // r == 0x400 carries into the smallest normal, which is right
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) !== 0)) r++; // a carry into exponent 31 is inf
  return sign | r;
}
