import type { DecoderConfig } from '../models/define.ts';
import type { HostTensor } from './buffers.ts';

/**
 * The KV cache: one [B, capacity, kvDim] buffer per layer for K and for V, preallocated once.
 * Forwards write their window's rows in place (cache_write), so no step copies the cache.
 *
 * The buffers are views of a backing arena (`KvArena`) that the next cache of the same owner
 * reuses: the decode engine lays out a new canvas every block and drops rows that leave
 * mid-block (`compacted`), and an engine that ends hands its arena to the next (`takeKvArena`).
 * A server's steady state then allocates no cache memory; it used to allocate (and the GC to
 * collect) one cache per layout, the largest allocation per forward on the CPU.
 */
export class KvCache {
  readonly states: Record<string, HostTensor> = {};

  /** A zeroed cache; over `backing` when given (grown there if too small), and then every earlier cache over it must not be used after. */
  constructor(readonly config: DecoderConfig, readonly batch: number, readonly capacity: number, private readonly backing: KvArena = new Map(), zero = true) {
    const kvDim = config.nKvHeads * config.headDim, n = batch * capacity * kvDim;
    for (let l = 0; l < config.nLayers; l++) {
      for (const kind of ['k', 'v']) {
        const name = `cache.${kind}.${l}`;
        let buf = backing.get(name);
        if (!buf || buf.length < n) {
          // Grown with headroom, so a cohort a little larger than the last does not reallocate.
          buf = new Float32Array(Math.max(n, Math.ceil(1.5 * (buf?.length ?? 0))));
          backing.set(name, buf);
        } else if (zero) buf.fill(0, 0, n); // as fresh as a new allocation, whatever an earlier layout left
        this.states[name] = { data: buf.subarray(0, n), shape: [batch, capacity, kvDim] };
      }
    }
  }

  /**
   * The cache of only the flagged rows, their K/V moved down in place (a row only ever moves to a
   * lower index, in ascending order, so no row is overwritten before it moved). This cache must
   * not be used after.
   */
  compacted(keep: boolean[]): KvCache {
    if (keep.length !== this.batch) throw new Error(`kv cache: ${keep.length} flags for ${this.batch} rows`);
    const per = this.capacity * this.config.nKvHeads * this.config.headDim;
    for (const t of Object.values(this.states)) {
      const d = t.data as Float32Array;
      let j = 0;
      keep.forEach((k, b) => {
        if (k && b !== j) d.copyWithin(j * per, b * per, (b + 1) * per);
        if (k) j++;
      });
    }
    return new KvCache(this.config, keep.filter(Boolean).length, this.capacity, this.backing, false);
  }

  /** Bytes held by the cache's views. */
  get bytes(): number {
    return Object.values(this.states).reduce((s, t) => s + t.data.byteLength, 0);
  }
}

/** Backing memory of KV caches, by state name. */
export type KvArena = Map<string, Float32Array>;

/** Arenas of engines that ended, per model, for the next ones (at most a few kept). */
const spareArenas = new WeakMap<object, KvArena[]>();
const SPARE_ARENAS = 4;

/** An arena for a new owner of caches of `model`: one an earlier owner gave back, else a new one. */
export function takeKvArena(model: object): KvArena {
  return spareArenas.get(model)?.pop() ?? new Map();
}

/** Gives an arena back once its owner's caches are no longer used. */
export function giveKvArena(model: object, arena: KvArena): void {
  let spare = spareArenas.get(model);
  if (!spare) spareArenas.set(model, (spare = []));
  if (spare.length < SPARE_ARENAS && !spare.includes(arena)) spare.push(arena);
}
