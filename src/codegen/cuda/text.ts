import type { DeviceDType } from './types.ts';

/** An f32 literal that round-trips exactly (9 significant digits). */
export function f32Literal(v: number): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f)) throw new Error(`cuda codegen: non-finite constant ${v}`);
  return `${f.toPrecision(9)}f`;
}

/** A constant as it may appear inside an identifier: 1e-05 -> 1em05, 0.5 -> 0p5. */
export function identNumber(v: number): string {
  return String(v).replace(/\./g, 'p').replace(/-/g, 'm').replace(/\+/g, '');
}

/** C type of a stored element type. */
export function cType(d: DeviceDType): string {
  return { f32: 'float', bf16: 'fd::bf16', i32: 'fd::i32', u8: 'fd::u8', f64: 'double' }[d];
}
