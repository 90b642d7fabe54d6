import { describe, expect, it } from 'vitest';
import { loadHostModel } from '../../src/runtime/model.ts';
import { runForward, type ForwardCall } from '../../src/runtime/forward.ts';
import { KvCache } from '../../src/runtime/kv-cache.ts';
import { DEFAULT_MODEL_DIR } from '../../src/api.ts';

/** A full forward call of `rows` rows of `t` tokens, every position a head row. */
function call(rows: number, t: number, seed: number): ForwardCall {
  const ids = Int32Array.from({ length: rows * t }, (_, i) => 3 + ((i * 7 + seed) % 200));
  const positions = Int32Array.from({ length: rows * t }, (_, i) => i % t);
  return { batch: rows, ids, positions, start: 0, keyMask: new Uint8Array(rows * t).fill(1), headRows: positions.slice() };
}

describe('forward outputs in reused memory (ForwardRunOptions.reuseOutputs)', () => {
  it('gives the same logits as fresh outputs, as views of one buffer across runs of any size', async () => {
    for (const backend of ['native', 'reference'] as const) {
      const m = await loadHostModel(DEFAULT_MODEL_DIR, { backend });
      const shapes: [number, number, number][] = [[2, 12, 1], [1, 20, 2], [3, 8, 3], [1, 4, 4]];
      const fresh = shapes.map(([b, t, s]) => Array.from(runForward(m, call(b, t, s), new KvCache(m.config, b, t)).data));
      const views = shapes.map(([b, t, s]) => runForward(m, call(b, t, s), new KvCache(m.config, b, t), true).data);
      // Each reused run's logits were right when it returned (checked against fresh runs) ...
      const again = shapes.map(([b, t, s]) => Array.from(runForward(m, call(b, t, s), new KvCache(m.config, b, t), true).data));
      expect(again, backend).toEqual(fresh);
      // ... and they share memory: the last run overwrote the first one's view.
      expect(views[0].buffer, backend).toBe(views[3].buffer);
      expect(Array.from(views[3]), backend).toEqual(fresh[3]);
      const plain = runForward(m, call(1, 4, 4), new KvCache(m.config, 1, 4));
      expect(plain.data.buffer, `${backend}: without the option a run allocates`).not.toBe(views[3].buffer);
    }
  });
});
