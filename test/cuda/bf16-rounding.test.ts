import { describe, expect, it } from 'vitest';
import { bf16BitsToF32, bf16OfF32Bits, f32ToBf16Bits } from '../../src/util/half.ts';

/**
 * The one bf16 rounding of f32 bits (util/half.ts), used by the GPU loader, the safetensors
 * writer and the emulated device's bf16 stores and mma inputs, is fd::f2bf's
 * (templates/fd_common.cuh): checked bit for bit at the edge values, hand-computed and against
 * an arithmetic rounding to nearest even. (Before the emulated device shared it, its own copy
 * and this one agreed on all 2^32 f32 bit patterns.)
 */
const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
const valueOf = (u: number) => { U32[0] = u >>> 0; return F32[0]; };

/** Nearest even by arithmetic between the two bf16 neighbours of a non-NaN f32 (inf beyond 2^128). */
function roundRef(u: number): number {
  const x = Math.abs(valueOf(u)), sign = (u >>> 16) & 0x8000;
  if (x === Infinity) return sign | 0x7f80;
  const lo = (u >>> 16) & 0x7fff, hi = lo + 1;
  const vlo = bf16BitsToF32(lo), vhi = hi === 0x7f80 ? 2 ** 128 : bf16BitsToF32(hi);
  const dlo = x - vlo, dhi = vhi - x;
  return sign | (dlo < dhi || (dlo === dhi && (lo & 1) === 0) ? lo : hi);
}

const hand: [string, number, number][] = [
  ['+0', 0x00000000, 0x0000],
  ['-0', 0x80000000, 0x8000],
  ['1, tie, even below', 0x3f808000, 0x3f80],
  ['1 + 3 * 2^-8, tie, even above', 0x3f818000, 0x3f82],
  ['just below a tie', 0x3f807fff, 0x3f80],
  ['just above a tie', 0x3f808001, 0x3f81],
  ['-2.5', 0xc0200000, 0xc020],
  ['smallest subnormal', 0x00000001, 0x0000],
  ['-smallest subnormal', 0x80000001, 0x8000],
  ['subnormal tie, even below', 0x00008000, 0x0000],
  ['subnormal tie, even above', 0x00018000, 0x0002],
  ['subnormal above a tie', 0x00008001, 0x0001],
  ['largest subnormal to the smallest normal', 0x007fffff, 0x0080],
  ['bf16 max finite', 0x7f7f0000, 0x7f7f],
  ['below the tie under bf16 max', 0x7f7f7fff, 0x7f7f],
  ['tie at bf16 max (odd) to inf', 0x7f7f8000, 0x7f80],
  ['f32 max finite to inf', 0x7f7fffff, 0x7f80],
  ['-f32 max finite to -inf', 0xff7fffff, 0xff80],
  ['+inf', 0x7f800000, 0x7f80],
  ['-inf', 0xff800000, 0xff80],
  ['quiet NaN', 0x7fc00000, 0x7fc0],
  ['-quiet NaN', 0xffc00000, 0xffc0],
  ['signalling NaN, payload in the low half only: stays NaN, quiet', 0x7f800001, 0x7fc0],
  ['signalling NaN with high payload', 0x7fa50000, 0x7fe5],
  ['NaN, all ones', 0xffffffff, 0xffff],
];

describe('bf16 rounding of f32 bits (fd::f2bf)', () => {
  it.each(hand)('%s', (_, u, bits) => {
    expect(bf16OfF32Bits(u)).toBe(bits);
    if (!Number.isNaN(valueOf(u))) expect(roundRef(u), 'arithmetic rounding').toBe(bits);
  });

  it('agrees with arithmetic rounding around every bf16 rounding boundary of a sweep of exponents', () => {
    let n = 0;
    for (let e = 0; e < 255; e++) {
      for (const m of [0x00, 0x01, 0x3f, 0x7e, 0x7f]) {
        const base = ((e << 23) | (m << 16)) >>> 0; // exponent e, top 7 mantissa bits m
        for (const low of [0, 1, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xfffe, 0xffff, 0x10000, 0x18000]) {
          for (const sign of [0, 0x80000000]) {
            const u = ((base + low) | sign) >>> 0;
            if (Number.isNaN(valueOf(u))) continue;
            if (bf16OfF32Bits(u) !== roundRef(u)) expect(bf16OfF32Bits(u), u.toString(16)).toBe(roundRef(u));
            n++;
          }
        }
      }
    }
    expect(n).toBeGreaterThan(20000);
  });

  it('from a value: NaN stays NaN, the rest as the bits', () => {
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    for (const [, u, bits] of hand) if (!Number.isNaN(valueOf(u))) expect(f32ToBf16Bits(valueOf(u))).toBe(bits);
  });
});
