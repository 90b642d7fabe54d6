import { describe, expect, it } from 'vitest';
import { decodeIds } from '../../src/decode/generate.ts';
import { forwardFull, runForward } from '../../src/runtime/forward.ts';
import { KvCache } from '../../src/runtime/kv-cache.ts';
import type { HostTensor } from '../../src/runtime/buffers.ts';
import type { HostModel } from '../../src/runtime/model.ts';
import { hasCuda } from '../../src/runtime/cuda/device.ts';
import { asHostModel, loadCudaModel, type CudaModel } from '../../src/runtime/cuda/model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import { loadCases, loadForwardGolden, modelDir, relErr, type ForwardVector, type GoldenCase } from '../helpers/golden.ts';

/**
 * The fixture models end to end on the GPU in f32: forward logits against the golden vectors
 * (as test/runtime/forward-golden.test.ts checks the CPU), and every golden decoding case gives
 * exactly the expected tokens, nfe and per-step decisions (as test/decode checks the CPU).
 */
const models = new Map<string, Promise<CudaModel>>();
const model = (name: string) => {
  let m = models.get(name);
  if (!m) models.set(name, (m = loadCudaModel(modelDir(name), { precision: 'f32' })));
  return m;
};

function runVector(m: HostModel, v: ForwardVector): HostTensor {
  if (v.call === 'full') return forwardFull(m, [v.input_ids]);
  const all = v.cache_input_ids!;
  const L = all.length;
  const cache = new KvCache(m.config, 1, L);
  const iota = (a: number, b: number) => Int32Array.from({ length: b - a }, (_, i) => a + i);
  runForward(m, { batch: 1, ids: Int32Array.from(all), positions: iota(0, L), start: 0, keyMask: new Uint8Array(L).fill(1), headRows: Int32Array.of(0) }, cache);
  const s = v.call === 'prefix' ? v.prefix_len! : v.block![0];
  const T = v.input_ids.length;
  return runForward(m, { batch: 1, ids: Int32Array.from(v.input_ids), positions: iota(s, s + T), start: s, keyMask: new Uint8Array(L).fill(1), headRows: iota(0, T) }, cache);
}

describe.runIf(hasCuda())('GPU (f32) forward vs golden logits', () => {
  for (const [name, g] of Object.entries(loadForwardGolden())) {
    it(`${name}: ${g.vectors.map((v) => v.call).join(', ')}`, async () => {
      const m = asHostModel(await model(name));
      for (const v of g.vectors) {
        const out = runVector(m, v);
        const [T, V] = v.logits.shape;
        expect(out.shape).toEqual([1, T, V]);
        const rows = (a: number, b: number) => Array.from(out.data.subarray(a * V, b * V));
        expect(relErr(rows(0, v.logits.head_rows.length), v.logits.head_rows.flat())).toBeLessThan(1e-4);
        expect(relErr(rows(v.logits.tail_start, v.logits.tail_start + v.logits.tail_rows.length), v.logits.tail_rows.flat())).toBeLessThan(1e-4);
        const argmax = Array.from({ length: T }, (_, r) => { const row = rows(r, r + 1); return row.indexOf(Math.max(...row)); });
        expect(argmax).toEqual(v.logits.argmax);
      }
    });
  }
});

/** FASTDLLM_GOLDEN_EVERY=n checks every n-th case only (a shorter device run); default all. */
const EVERY = Number(process.env.FASTDLLM_GOLDEN_EVERY ?? 1);

async function checkCase(c: GoldenCase): Promise<string[]> {
  const m = asHostModel(await model(c.model));
  const perStep: { kind: string; n: number; pos: number[] }[] = [];
  let result;
  for (const ev of decodeIds(m, [c.prompt], caseOptions(c))) {
    if (ev.type === 'step') {
      const r = ev.rows.find((x) => x.row === 0);
      const pos = (r?.positions ?? []).map((p) => p + c.prompt.length).sort((a, b) => a - b);
      perStep.push({ kind: ev.kind, n: pos.length, pos });
    } else if (ev.type === 'done') result = ev.result;
  }
  const bad: string[] = [];
  if (JSON.stringify(result!.tokens[0]) !== JSON.stringify(c.generated)) bad.push(`tokens ${JSON.stringify(result!.tokens[0])} != ${JSON.stringify(c.generated)}`);
  if (result!.nfe !== c.nfe) bad.push(`nfe ${result!.nfe} != ${c.nfe}`);
  if (JSON.stringify(perStep.map((s) => s.n)) !== JSON.stringify(c.tokens_per_step)) bad.push('tokens_per_step differ');
  else if (JSON.stringify(perStep) !== JSON.stringify(c.steps)) bad.push('steps differ');
  return bad;
}

describe.runIf(hasCuda())('GPU (f32) golden decoding cases: the CPU\'s tokens and nfe', () => {
  for (const family of ['llada', 'dream'] as const) {
    const cases = loadCases(family).filter((_, i) => i % EVERY === 0);
    const groups = new Map<string, GoldenCase[]>();
    for (const c of cases) groups.set(`${c.model} ${c.routine}`, [...(groups.get(`${c.model} ${c.routine}`) ?? []), c]);
    for (const [key, group] of groups) {
      it(`${family} ${key}: ${group.length} cases`, async () => {
        const failures: string[] = [];
        for (const c of group) {
          const bad = await checkCase(c);
          if (bad.length) failures.push(`${c.id}: ${bad.join('; ')}`);
        }
        expect(failures.slice(0, 5), `${failures.length} of ${group.length} cases differ`).toEqual([]);
      }, 600_000);
    }
  }
});
