import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel, generate, generateStream } from '../../src/index.ts';
import { forwardFull } from '../../src/runtime/forward.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { relErr } from '../helpers/golden.ts';
import { writeTinyGqaCheckpoint, tinyGqa } from '../../examples/custom-model.ts';

describe('a user-defined model (examples/custom-model.ts: GQA, q/k/v biases, ungated MLP, tied head)', () => {
  const dir = writeTinyGqaCheckpoint(3);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the same forward on the native and the reference backend', async () => {
    const nat = await loadHostModel(dir, { backend: 'native' });
    const ref = await loadHostModel(dir, { backend: 'reference' });
    expect(nat.definition).toBe(tinyGqa);
    expect(nat.graph.ofKind('attention')[0].attrs.kvHeads).toBe(2); // repeat_kv fused into the attention
    const ids = [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]];
    // max-abs difference over max-abs value, the forward tolerance of the golden tests
    expect(relErr(forwardFull(nat, ids).data, forwardFull(ref, ids).data)).toBeLessThan(1e-5);
  });

  it('decodes what the documented routine computes from the reference backend\'s logits (no cache), and each cache mode\'s first step agrees', async () => {
    const ref = await loadHostModel(dir, { backend: 'reference' });
    const prompt = [5, 6, 7, 8], G = 16, BL = 8, TH = 0.5;
    const { maskId, vocabSize } = ref.config;
    // REFERENCE.md section 4, no cache with a threshold, written out: per block, forward the whole
    // canvas, take every masked position before the block end with softmax(argmax) >= threshold
    // (in f64) plus the most confident one, until the block has no mask.
    const x = [...prompt, ...new Array(G).fill(maskId)];
    const steps: { positions: number[]; tokens: number[] }[] = [];
    for (let e = prompt.length + BL; e <= x.length; e += BL) {
      while (x.slice(e - BL, e).includes(maskId)) {
        const logits = forwardFull(ref, [x]).data;
        const cand: { p: number; tok: number; conf: number }[] = [];
        for (let p = 0; p < e; p++) {
          if (x[p] !== maskId) continue;
          const row = Array.from(logits.subarray(p * vocabSize, (p + 1) * vocabSize));
          const tok = row.indexOf(Math.max(...row));
          const z = row.reduce((s, v) => s + Math.exp(v - row[tok]), 0);
          cand.push({ p, tok, conf: 1 / z });
        }
        const best = cand.reduce((a, c) => (c.conf > a.conf ? c : a));
        const chosen = cand.filter((c) => c === best || c.conf >= TH);
        for (const c of chosen) x[c.p] = c.tok;
        steps.push({ positions: chosen.map((c) => c.p - prompt.length), tokens: chosen.map((c) => c.tok) });
      }
    }
    const model = await loadModel(dir);
    const first: Record<string, { positions: number[]; tokens: number[] }> = {};
    let none: { tokens: number[][]; nfe: number } | undefined;
    for (const cache of ['none', 'prefix', 'dual'] as const) {
      for await (const ev of generateStream(model, prompt, { genLength: G, blockLength: BL, cache, threshold: TH })) {
        if (ev.type === 'step' && !first[cache]) {
          const r = ev.rows[0];
          const order = r.positions.map((p, i) => [p, r.tokens[i]]).sort((a, b) => a[0] - b[0]);
          first[cache] = { positions: order.map((o) => o[0]), tokens: order.map((o) => o[1]) };
        }
        if (ev.type === 'done' && cache === 'none') none = ev.result;
      }
    }
    expect(none!.tokens[0]).toEqual(x.slice(prompt.length));
    expect(none!.nfe).toBe(steps.length);
    // A cached routine's first forward is a full one (the refresh): the same first choice.
    for (const cache of ['none', 'prefix', 'dual']) expect(first[cache], cache).toEqual(steps[0]);
  });

  it('decodes with every cache mode; a batch gives each row its solo answer', async () => {
    const model = await loadModel(dir);
    const solo: number[][] = [];
    for (const cache of ['none', 'prefix', 'dual'] as const) {
      const r = await generate(model, [5, 6, 7, 8], { genLength: 16, blockLength: 8, cache, threshold: 0.5 });
      expect(r.tokens[0]).toHaveLength(16);
      expect(r.tokens[0].every((t) => t >= 0 && t < 300 && t !== 299)).toBe(true);
      solo.push(r.tokens[0]);
    }
    const alone = (await generate(model, [9, 10], { genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.5 })).tokens[0];
    const batch = await generate(model, [[5, 6, 7, 8], [9, 10]], { genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.5 });
    expect(batch.tokens).toEqual([solo[2], alone]);
  });
});
