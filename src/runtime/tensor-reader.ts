import type { WeightSource } from './executor.ts';

/** The stored element types a loader streams (others are refused when the checkpoint is read). */
export type StoredFloat = 'F32' | 'BF16' | 'F16';

export const STORED_BYTES: Readonly<Record<StoredFloat, number>> = { F32: 4, BF16: 2, F16: 2 };

/**
 * A model's weights read piece by piece in their stored dtype: what the GPU loader streams from,
 * so no tensor (let alone the model) need be held whole, or widened to f32, on the host. A
 * tensor's rows are its first axis; a row holds the product of the other dims (1 for a vector).
 */
export interface TensorReader {
  /** Stored dtype of a weight, after checking it has the shape the graph expects. */
  dtype(name: string, shape: readonly number[]): StoredFloat;
  /**
   * Stored bytes of rows [r0, r1) of a weight, into `dst` (exactly that many bytes), or row
   * r0 + i into `dst[i]` (one row's bytes each): so a pack that reorders rows (RoPE heads,
   * interleaved gate/up) reads them where they go, with no second copy.
   */
  readRows(name: string, r0: number, r1: number, dst: Uint8Array | readonly Uint8Array[]): void;
}

/**
 * A TensorReader over an f32 WeightSource (tests and benches that hand the executor arrays): each
 * tensor is fetched whole, once, and kept only while its rows are being read. Checkpoints have a
 * real reader (model-source.ts) that never holds a tensor whole.
 */
export function readerOfWeightSource(source: WeightSource): TensorReader & { heldBytes(): number } {
  // The last few tensors fetched: a pack reads at most three, alternating between two (SwiGLU's gate and up).
  const held: { name: string; data: Float32Array }[] = [];
  const shapes = new Map<string, readonly number[]>();
  return {
    dtype(name, shape) {
      shapes.set(name, shape);
      return 'F32';
    },
    readRows(name, r0, r1, dst) {
      let t = held.find((h) => h.name === name);
      if (!t) {
        const shape = shapes.get(name);
        if (!shape) throw new Error(`weights: '${name}' read before its dtype was asked`);
        if (held.length >= 3) held.shift();
        held.push((t = { name, data: source(name, [...shape]) }));
      }
      const width = t.data.length / (shapes.get(name)![0] || 1);
      const src = new Uint8Array(t.data.buffer, t.data.byteOffset + r0 * width * 4, (r1 - r0) * width * 4);
      if (dst instanceof Uint8Array) dst.set(src);
      else dst.forEach((d, i) => d.set(src.subarray(i * width * 4, (i + 1) * width * 4)));
    },
    heldBytes: () => held.reduce((s, h) => s + h.data.byteLength, 0),
  };
}
