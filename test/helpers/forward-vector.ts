import { expect } from 'vitest';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';
import { runForward, forwardFull } from '../../src/runtime/forward.ts';
import { KvCache } from '../../src/runtime/kv-cache.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import { relErr, type ForwardVector } from './golden.ts';

/**
 * One golden forward vector through the standard forward contract, and the checks of its
 * logits: shared by the CPU backends' test and the GPU's.
 */
export function runVector(model: LoadedModel, v: ForwardVector): HostTensor {
  if (v.call === 'full') return forwardFull(model, [v.input_ids]);
  const all = v.cache_input_ids!;
  const L = all.length;
  const cache = new KvCache(model.config, 1, L);
  const iota = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
  // Refresh: full forward of the cache canvas fills every row's K/V.
  runForward(model, { batch: 1, ids: Int32Array.from(all), positions: iota(0, L), start: 0, keyMask: new Uint8Array(L).fill(1), headRows: Int32Array.of(0) }, cache);
  const s = v.call === 'prefix' ? v.prefix_len! : v.block![0];
  const T = v.input_ids.length;
  return runForward(model, { batch: 1, ids: Int32Array.from(v.input_ids), positions: iota(s, s + T), start: s, keyMask: new Uint8Array(L).fill(1), headRows: iota(0, T) }, cache);
}

/** A forward's logits against a golden vector: head and tail rows, row sums, argmax and whole-tensor sums. */
export function compareVector(out: HostTensor, v: ForwardVector): void {
  const [T, V] = v.logits.shape;
  expect(out.shape).toEqual([1, T, V]);
  const rows = (a: number, b: number) => Array.from(out.data.subarray(a * V, b * V));
  const head = v.logits.head_rows.flat(), tail = v.logits.tail_rows.flat();
  expect(relErr(rows(0, v.logits.head_rows.length), head)).toBeLessThan(1e-4);
  expect(relErr(rows(v.logits.tail_start, v.logits.tail_start + v.logits.tail_rows.length), tail)).toBeLessThan(1e-4);
  const scale = Math.max(...head.map(Math.abs));
  const sums = Array.from({ length: T }, (_, r) => rows(r, r + 1).reduce((s, x) => s + x, 0));
  sums.forEach((s, r) => expect(Math.abs(s - v.logits.checksum.row_sums[r])).toBeLessThan(1e-4 * scale * Math.sqrt(V)));
  const argmax = Array.from({ length: T }, (_, r) => { const row = rows(r, r + 1); return row.indexOf(Math.max(...row)); });
  expect(argmax).toEqual(v.logits.argmax);
  checkSums(out.data.subarray(0, T * V), v.logits.checksum);
}

/**
 * The whole tensor's sum, sum of |x| and sum of x^2 against the fixture's: the rows between the
 * stored head and tail rows are otherwise seen only through their row sums and argmax (a sign
 * swap or a permuted row keeps both). Relative 1e-5 of the reference's own magnitude: at 1e-4
 * per element (the golden tolerance) the sums of |x| and x^2 could move by at most that
 * fraction of their size, and measured (CPU backends, every fixture) they move by at most 1.1e-7.
 */
function checkSums(data: ArrayLike<number> & Iterable<number>, ref: { sum: number; abs_sum: number; sq_sum: number }): void {
  let sum = 0, abs = 0, sq = 0;
  for (const x of data) { sum += x; abs += Math.abs(x); sq += x * x; }
  expect(Math.abs(abs - ref.abs_sum), `abs_sum ${abs} vs ${ref.abs_sum}`).toBeLessThan(1e-5 * ref.abs_sum);
  expect(Math.abs(sq - ref.sq_sum), `sq_sum ${sq} vs ${ref.sq_sum}`).toBeLessThan(1e-5 * ref.sq_sum);
  // The plain sum cancels, so its bound is relative to the sum of |x|.
  expect(Math.abs(sum - ref.sum), `sum ${sum} vs ${ref.sum}`).toBeLessThan(1e-5 * ref.abs_sum);
}

