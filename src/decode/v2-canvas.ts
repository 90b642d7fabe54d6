import type { LoadedModel } from '../runtime/loaded-model.ts';
import { runForward } from '../runtime/forward.ts';
import { KvCache } from '../runtime/kv-cache.ts';
import { fillHeadRows } from './head-rows.ts';

/** Logits of the head rows of a call: rows(b, i) is batch row b's i-th wanted row. */
export type V2Logits = (b: number, i: number) => Float32Array;

/**
 * The rows of a Fast-dLLM v2 batch on one canvas, left-padded by whole blocks so that their
 * current blocks line up: row b's prompt of Lp tokens has floor(Lp / BL) whole blocks, the
 * longest such count is F, and row b is shifted by pad[b] = (F - its count) * BL. Every row's
 * first generated block is then canvas block F, and a block, sub-block or commit forward of
 * every row is one call with one `start`. Pad keys are masked (keyMask), positions are per row
 * (canvas - pad), so a row computes what it computes alone; the pad rows' own K/V (written by
 * the prefill calls of the blocks before a row's prompt) are never seen by its real tokens.
 */
export class V2Canvas {
  readonly batch: number;
  /** Whole prompt blocks of the longest prompt: generation starts at canvas block F. */
  readonly F: number;
  /** Canvas shift of each row (a multiple of the block length). */
  readonly pad: number[];
  /** Canvas positions a row's cache holds: (F + generated blocks) * BL. */
  readonly capacity: number;
  /** Canvas row length: capacity + 1 (the last AR token). */
  readonly length: number;
  readonly x: Int32Array;
  private readonly cache: KvCache;

  constructor(private readonly model: LoadedModel, readonly prompts: number[][], readonly bl: number, nBlocks: number, maskId: number, padId: number) {
    this.batch = prompts.length;
    const whole = prompts.map((p) => Math.floor(p.length / bl));
    this.F = Math.max(...whole);
    this.pad = whole.map((w) => (this.F - w) * bl);
    this.capacity = (this.F + nBlocks) * bl;
    this.length = this.capacity + 1;
    this.x = new Int32Array(this.batch * this.length).fill(maskId);
    prompts.forEach((p, b) => {
      this.x.fill(padId, b * this.length, b * this.length + this.pad[b]);
      this.x.set(p, b * this.length + this.pad[b]);
    });
    this.cache = new KvCache(model.config, this.batch, this.capacity);
  }

  /** Canvas index where row b's generated region starts (after its prompt). */
  genStart(b: number): number {
    return this.pad[b] + this.prompts[b].length;
  }

  tok(b: number, p: number): number {
    return this.x[b * this.length + p];
  }

  set(b: number, p: number, t: number): void {
    this.x[b * this.length + p] = t;
  }

  /** Row b's canvas [a, e) as a list. */
  slice(b: number, a: number, e: number): number[] {
    return Array.from(this.x.subarray(b * this.length + a, b * this.length + e));
  }

  /**
   * One forward of canvas [start, start + T) for every row, keys [0, K); `heads[b]` lists the
   * window offsets whose logits row b wants (rows not taking part want none: they still run,
   * which the routine makes harmless, see v2-routine.ts). The window's K/V go to cache rows
   * [start, start + T) before attention (cache_write).
   */
  forward(start: number, T: number, K: number, heads: (number[] | undefined)[]): V2Logits {
    const B = this.batch, V = this.model.config.vocabSize;
    let R = 1;
    for (let b = 0; b < B; b++) R = Math.max(R, heads[b]?.length ?? 0);
    const ids = new Int32Array(B * T), positions = new Int32Array(B * T), keyMask = new Uint8Array(B * K), headRows = new Int32Array(B * R);
    for (let b = 0; b < B; b++) {
      ids.set(this.x.subarray(b * this.length + start, b * this.length + start + T), b * T);
      for (let i = 0; i < T; i++) positions[b * T + i] = Math.max(0, start + i - this.pad[b]);
      // A call wholly inside a row's padding (a prefill call of blocks before its prompt) lets
      // the pad queries see the pad keys: a softmax over no key at all would not be finite.
      keyMask.fill(1, b * K + (K <= this.pad[b] ? 0 : this.pad[b]), (b + 1) * K);
      fillHeadRows(headRows, b, R, heads[b] ?? []);
    }
    const logits = runForward(this.model, { batch: B, ids, positions, start, keyMask, headRows }, this.cache).data as Float32Array;
    return (b, i) => logits.subarray((b * R + i) * V, (b * R + i + 1) * V);
  }
}
