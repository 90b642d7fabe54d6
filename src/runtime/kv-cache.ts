import type { DecoderConfig } from '../models/define.ts';
import type { HostTensor } from './buffers.ts';

/**
 * The KV cache: one [B, capacity, kvDim] buffer per layer for K and for V, preallocated once.
 * Forwards write their window's rows in place (cache_write), so no step copies the cache.
 */
export class KvCache {
  readonly states: Record<string, HostTensor> = {};

  constructor(readonly config: DecoderConfig, readonly batch: number, readonly capacity: number) {
    const kvDim = config.nKvHeads * config.headDim;
    for (let l = 0; l < config.nLayers; l++) {
      for (const kind of ['k', 'v']) {
        this.states[`cache.${kind}.${l}`] = { data: new Float32Array(batch * capacity * kvDim), shape: [batch, capacity, kvDim] };
      }
    }
  }

  /** Bytes held by the cache. */
  get bytes(): number {
    return Object.values(this.states).reduce((s, t) => s + t.data.byteLength, 0);
  }
}
