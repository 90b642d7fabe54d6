import { describe, expect, it } from 'vitest';
import {
  arithSplit,
  fnv1a32,
  generateProblem,
  makeRng,
  MAX_VALUE,
  splitOf,
  type ArithProblem,
} from '../../src/eval/arith-task.ts';

/** Checks every equation of an answer and the chain's final number; returns the op count. */
function checkAnswer(p: ArithProblem): number {
  const sentences = p.answer.split(/(?<=\.) /);
  const last = sentences.pop()!;
  expect(last).toBe(`The answer is ${p.target}.`);
  expect(sentences.length).toBeGreaterThanOrEqual(1);
  expect(sentences.length).toBeLessThanOrEqual(3);
  let result = NaN;
  for (const s of sentences) {
    const m = /^(\d+) ([+\-*]) (\d+) = (\d+)\.$/.exec(s);
    expect(m, s).not.toBeNull();
    const [a, op, b, r] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
    const want = op === '+' ? a + b : op === '-' ? a - b : a * b;
    expect(r, s).toBe(want);
    for (const v of [a, b, r]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(MAX_VALUE);
    }
    result = r;
  }
  expect(result).toBe(p.target);
  return sentences.length;
}

describe('arith task generator', () => {
  it('is deterministic: same seed, same problems; another seed, others', () => {
    const a = arithSplit('train', 300, 7);
    const b = arithSplit('train', 300, 7);
    expect(b).toEqual(a);
    expect(arithSplit('heldout', 50, 7)).toEqual(arithSplit('heldout', 50, 7));
    expect(arithSplit('train', 300, 8)).not.toEqual(a);
    const r1 = makeRng(42);
    const r2 = makeRng(42);
    for (let i = 0; i < 20; i++) expect(generateProblem(r2)).toEqual(generateProblem(r1));
  });

  it('mulberry32 and FNV-1a give their known values', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
    // mulberry32 as published (Tommy Ettinger's public-domain generator), written out here.
    const published = (seed: number) => () => {
      let t = (seed += 0x6d2b79f5);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = makeRng(1);
    // Seed 1's first values, as the published code prints them.
    expect([r(), r(), r()]).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522]);
    for (const seed of [0, 7, 42, 0xdeadbeef]) {
      const mine = makeRng(seed), ref = published(seed);
      for (let i = 0; i < 1000; i++) expect(mine(), `seed ${seed} draw ${i}`).toBe(ref());
    }
  });

  it('never puts a question in both splits, and dedupes within a split', () => {
    const train = arithSplit('train', 30_000);
    const heldout = arithSplit('heldout', 3_000);
    const trainQs = new Set(train.map((p) => p.question));
    expect(trainQs.size).toBe(train.length);
    const heldQs = new Set(heldout.map((p) => p.question));
    expect(heldQs.size).toBe(heldout.length);
    for (const q of heldQs) expect(trainQs.has(q)).toBe(false);
    // Membership is a function of the text alone, so other seeds cannot leak either.
    for (const p of arithSplit('heldout', 500, 99)) expect(trainQs.has(p.question)).toBe(false);
    for (const p of train) expect(splitOf(p.question)).toBe('train');
    for (const p of heldout) expect(splitOf(p.question)).toBe('heldout');
  });

  it('writes correct arithmetic that ends in the target, with 1-3 operations', () => {
    const ops = [0, 0, 0, 0];
    for (const split of ['train', 'heldout'] as const) {
      for (const p of arithSplit(split, split === 'train' ? 5_000 : 1_000)) {
        ops[checkAnswer(p)]++;
        expect(Number.isInteger(p.target)).toBe(true);
        expect(p.question).toMatch(/^[A-Z][a-z]+ has \d+ .*\? *$/);
        expect(p.question.endsWith('?')).toBe(true);
      }
    }
    expect(ops[1]).toBeGreaterThan(500);
    expect(ops[2]).toBeGreaterThan(500);
    expect(ops[3]).toBeGreaterThan(500);
  });

  it('gives one target per question text; + and * operands come in both orders', () => {
    const seen = new Map<string, number>();
    const rng = makeRng(3);
    let swapped = 0, plus = 0;
    for (let i = 0; i < 20_000; i++) {
      const p = generateProblem(rng);
      const prev = seen.get(p.question);
      if (prev !== undefined) expect(p.target).toBe(prev);
      seen.set(p.question, p.target);
      // "Ana has 12 ... She buys 5 more." answers with 12 + 5 or 5 + 12
      const m = /^\w+ has (\d+) \w+\. \w+ (?:buys|finds) (\d+) more\./.exec(p.question);
      if (m) {
        plus++;
        if (p.answer.startsWith(`${m[2]} + ${m[1]} =`)) swapped++;
        else expect(p.answer.startsWith(`${m[1]} + ${m[2]} =`)).toBe(true);
      }
    }
    expect(plus).toBeGreaterThan(200);
    expect(swapped / plus).toBeGreaterThan(0.4);
    expect(swapped / plus).toBeLessThan(0.6);
  });
});
