import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import { loadCases, modelDir, type GoldenCase } from '../helpers/golden.ts';

/** One case per (family, routine, mode/alg) whose model also has cases for other prompt lengths. */
function representativeBatches(): GoldenCase[][] {
  const out: GoldenCase[][] = [];
  for (const fam of ['llada', 'dream'] as const) {
    const cases = loadCases(fam);
    const byKey = new Map<string, GoldenCase[]>();
    for (const c of cases) {
      // same model and options, different prompts
      const key = `${c.model}|${c.id.split('/').slice(2).join('/')}`;
      byKey.set(key, [...(byKey.get(key) ?? []), c]);
    }
    const seen = new Set<string>();
    for (const group of byKey.values()) {
      const c = group[0];
      const kind = `${c.routine}|${c.params.mode ?? c.params.alg}|${c.params.cfg_scale ? 'cfg' : ''}`;
      const lengths = new Set(group.map((g) => g.prompt.length));
      if (seen.has(kind) || lengths.size < 2) continue;
      seen.add(kind);
      out.push(group);
    }
  }
  return out;
}

describe('batches do not change answers', () => {
  const batches = representativeBatches();
  it('covers every routine', () => {
    const kinds = new Set(batches.map((g) => `${g[0].family}:${g[0].routine}`));
    expect(kinds.size).toBe(6);
  });
  for (const group of batches) {
    const c = group[0];
    it(`${c.model} ${c.routine} ${c.params.mode ?? c.params.alg}${c.params.cfg_scale ? ' cfg' : ''}: ${group.length} prompts of lengths ${group.map((g) => g.prompt.length).join('/')} in one batch`, async () => {
      const m = await loadHostModel(modelDir(c.model), { backend: 'native' });
      const r = decodeIdsToEnd(m, group.map((g) => g.prompt), caseOptions(c));
      group.forEach((g, i) => expect(r.tokens[i], g.id).toEqual(g.generated));
      expect(r.nfe).toBeGreaterThanOrEqual(Math.max(...group.map((g) => g.nfe)));
    });
  }
});
