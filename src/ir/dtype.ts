/** Element types of IR values. f64 exists for the selection math, which the reference does in double. */
export type DType = 'f32' | 'bf16' | 'f16' | 'f64' | 'i32' | 'bool';

/** Bytes per element as stored on a device (bool is one byte). */
export const DTYPE_BYTES: Record<DType, number> = { f32: 4, bf16: 2, f16: 2, f64: 8, i32: 4, bool: 1 };

export const isFloat = (d: DType): boolean => d === 'f32' || d === 'bf16' || d === 'f16' || d === 'f64';
