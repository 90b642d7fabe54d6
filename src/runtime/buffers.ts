import type { DType } from '../ir/dtype.ts';

/** Host storage of one IR value. bool is one byte per element. */
export type Buf = Float32Array | Float64Array | Int32Array | Uint8Array;

/** A host tensor: data plus its resolved shape. */
export interface HostTensor {
  data: Buf;
  shape: number[];
}

export function allocBuf(dtype: DType, n: number): Buf {
  switch (dtype) {
    case 'f32': return new Float32Array(n);
    case 'f64': return new Float64Array(n);
    case 'i32': return new Int32Array(n);
    case 'bool': return new Uint8Array(n);
    default: throw new Error(`no host storage for ${dtype}: the CPU runs f32 (checkpoints are upcast at load)`);
  }
}

export function bufMatches(dtype: DType, b: Buf): boolean {
  return (dtype === 'f32' && b instanceof Float32Array) || (dtype === 'f64' && b instanceof Float64Array)
    || (dtype === 'i32' && b instanceof Int32Array) || (dtype === 'bool' && b instanceof Uint8Array);
}
