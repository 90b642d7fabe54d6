import { describe, expect, it } from 'vitest';
import { checkCase } from './check-case.ts';
import { loadCases, type GoldenCase } from '../helpers/golden.ts';

for (const family of ['llada', 'dream'] as const) {
  const cases = loadCases(family);
  const groups = new Map<string, GoldenCase[]>();
  for (const c of cases) {
    const key = `${c.model} ${c.routine}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  describe(`${family} golden decoding cases (${cases.length})`, () => {
    for (const [key, group] of groups) {
      it(`${key}: ${group.length} cases give the expected tokens, nfe and steps`, async () => {
        const failures: string[] = [];
        for (const c of group) {
          const bad = await checkCase(c);
          if (bad.length) failures.push(`${c.id}: ${bad.join('; ')}`);
        }
        expect(failures.slice(0, 5), `${failures.length} of ${group.length} cases differ`).toEqual([]);
      });
    }
  });
}
