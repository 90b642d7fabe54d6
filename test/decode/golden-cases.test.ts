import { describe, expect, it } from 'vitest';
import { checkCase } from './check-case.ts';
import { loadCases } from '../helpers/golden.ts';
import { groupBy } from '../helpers/group-by.ts';

for (const family of ['llada', 'dream'] as const) {
  const cases = loadCases(family);
  const groups = groupBy(cases, (c) => `${c.model} ${c.routine}`);
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
