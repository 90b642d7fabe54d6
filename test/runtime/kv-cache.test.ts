import { describe, expect, it } from 'vitest';
import { giveKvArena, KvCache, takeKvArena } from '../../src/runtime/kv-cache.ts';
import type { DecoderConfig } from '../../src/models/define.ts';

const cfg = { nLayers: 2, nKvHeads: 2, headDim: 4 } as DecoderConfig;
const per = (c: KvCache) => c.capacity * 8;
const fillRows = (c: KvCache) => Object.values(c.states).forEach((t, s) => (t.data as Float32Array).forEach((_, i, d) => { d[i] = 1000 * s + Math.floor(i / per(c)) + 1; }));

describe('KvCache over reused memory', () => {
  it('compacted keeps the flagged rows, in order, with their K/V; reshaped is zeroed and exactly sized', () => {
    const c = new KvCache(cfg, 4, 5);
    fillRows(c);
    const before = Object.values(c.states).map((t) => Array.from(t.data));
    const k = c.compacted([false, true, false, true]);
    expect(k.batch).toBe(2);
    Object.values(k.states).forEach((t, s) => {
      expect(t.shape).toEqual([2, 5, 8]);
      expect(t.data.length).toBe(2 * 5 * 8);
      expect(Array.from(t.data)).toEqual([...before[s].slice(1 * 40, 2 * 40), ...before[s].slice(3 * 40, 4 * 40)]);
    });
    const arena = new Map();
    const first = new KvCache(cfg, 4, 5, arena);
    fillRows(first);
    const r = new KvCache(cfg, 3, 7, arena);
    Object.values(r.states).forEach((t) => {
      expect(t.shape).toEqual([3, 7, 8]);
      expect(t.data.length).toBe(3 * 7 * 8);
      expect(t.data.every((v) => v === 0)).toBe(true);
    });
    // Same memory while it fits (no allocation per layout); grown when it does not.
    const small = new KvCache(cfg, 1, 5, arena);
    expect(small.states['cache.k.0'].data.buffer).toBe(r.states['cache.k.0'].data.buffer);
    const big = new KvCache(cfg, 16, 16, arena);
    expect(big.states['cache.k.0'].data.buffer).not.toBe(r.states['cache.k.0'].data.buffer);
    expect(big.states['cache.k.0'].data.length).toBe(16 * 16 * 8);
  });

  it('an arena given back serves the next owner of the same model, and only that model', () => {
    const model = {}, other = {};
    const a = takeKvArena(model);
    giveKvArena(model, a);
    giveKvArena(model, a); // twice is once
    expect(takeKvArena(other)).not.toBe(a);
    expect(takeKvArena(model)).toBe(a);
    expect(takeKvArena(model)).not.toBe(a);
  });

  it('refuses keep flags that do not match its rows', () => {
    expect(() => new KvCache(cfg, 3, 4).compacted([true, false])).toThrow(/2 flags for 3 rows/);
  });
});
