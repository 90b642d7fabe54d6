/**
 * A seeded generator of short GSM8K-like word problems: the task the shipped tiny model
 * (assets/arith-tiny) was trained on, and the eval that checks it.
 *
 * A question states a starting count and 0-3 changes to it in predictable phrasing; the answer
 * is one equation per operation and ends with `The answer is N.`, the form lm-eval's gsm8k-cot
 * extraction reads. Every value, intermediate ones included, is a non-negative integer below
 * `MAX_VALUE`, so the arithmetic stays within reach of a few-million-parameter model.
 *
 * Train / held-out membership is a pure function of the question text (FNV-1a hash mod 10), so
 * a question can only ever belong to one split, whatever seed or sample size produced it.
 */

import { mulberry32 } from '../io/random.ts';

/** A uniform random number source in [0, 1). */
export type Rng = () => number;

/** One problem: the question, its worked answer, and the number the answer ends with. */
export interface ArithProblem {
  question: string;
  answer: string;
  target: number;
}

/** Which side of the train / held-out partition a question falls on. */
export type ArithSplit = 'train' | 'heldout';

/** Exclusive upper bound of every value in a problem (start, operands, results). */
export const MAX_VALUE = 50;
/** Largest amount added or taken away in one step ("buys N more", "gives N to Ben"). */
export const MAX_OPERAND = 10;
/** Largest starting count when the story starts from a plain number. */
export const MAX_START = 25;
/** Largest number of containers, and largest count per container, in a grouping step. */
export const MAX_GROUPS = 5;
export const MAX_PER_GROUP = 8;
/** Default seed of `arithSplit`. */
export const DEFAULT_SEED = 20250527;

/** The task's generator: mulberry32 (io/random.ts), whose stream fixes every split. */
export const makeRng: (seed: number) => Rng = mulberry32;

/** FNV-1a (32-bit) of a string's UTF-16 code units (the task text is ASCII, so its bytes). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The split a question belongs to: one in ten (by hash of its text) is held out. */
export function splitOf(question: string): ArithSplit {
  return fnv1a32(question) % 10 === 0 ? 'heldout' : 'train';
}

/** Uniform integer in [lo, hi] (inclusive). */
function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)];
}

type Gender = 'f' | 'm';

/** Names and the pronoun they take. */
export const NAMES: readonly (readonly [string, Gender])[] = [
  ['Ana', 'f'], ['Ben', 'm'], ['Carlos', 'm'], ['Dana', 'f'], ['Eli', 'm'], ['Fatima', 'f'],
  ['Grace', 'f'], ['Hugo', 'm'], ['Ivy', 'f'], ['Jack', 'm'], ['Kim', 'f'], ['Leo', 'm'],
  ['Maya', 'f'], ['Noah', 'm'], ['Omar', 'm'], ['Priya', 'f'], ['Sam', 'm'], ['Tara', 'f'],
  ['Uma', 'f'], ['Zoe', 'f'],
];

/** Countable things, plural. */
export const OBJECTS: readonly string[] = [
  'pencils', 'apples', 'marbles', 'stickers', 'books', 'cookies', 'coins', 'shells', 'stamps',
  'cards', 'balloons', 'eggs', 'flowers', 'toys', 'candies', 'rocks',
];

/** Containers, [singular, plural]. */
export const CONTAINERS: readonly (readonly [string, string])[] = [
  ['box', 'boxes'], ['bag', 'bags'], ['pack', 'packs'], ['jar', 'jars'], ['basket', 'baskets'],
];

const SUBJECT: Record<Gender, string> = { f: 'She', m: 'He' };
const SUBJECT_LC: Record<Gender, string> = { f: 'she', m: 'he' };
const OBJECT_PRONOUN: Record<Gender, string> = { f: 'her', m: 'him' };

/** The story under construction: sentences, equations, and the running count. */
interface Story {
  sentences: string[];
  equations: string[];
  value: number;
  ops: number;
}

/**
 * `a op b = r.`; the operands of + and * come in either order (a coin flip), so an answer has
 * legitimate alternatives: the model is unsure which operand comes first, and a decoder that
 * commits both operand slots in one step can mix the two orders (the failure parallel
 * decoding trades against speed, which a low threshold exposes).
 */
function equation(rng: Rng, a: number, op: '+' | '-' | '*', b: number, r: number): string {
  if (op !== '-' && rng() < 0.5) [a, b] = [b, a];
  return `${a} ${op} ${b} = ${r}.`;
}

/**
 * Tries to append one step to the story (1 or 2 operations, at most `opsLeft`); returns false
 * (story unchanged) when the drawn step would break a bound.
 */
function addStep(
  rng: Rng,
  story: Story,
  opsLeft: number,
  g: Gender,
  friend: string,
): boolean {
  const c = story.value;
  const she = SUBJECT[g];
  const kind = pick(rng, opsLeft >= 2 ? ['add', 'sub', 'mul', 'groups'] : ['add', 'sub', 'mul']);
  if (kind === 'add') {
    const b = randInt(rng, 1, MAX_OPERAND);
    if (c + b >= MAX_VALUE) return false;
    const text = pick(rng, [
      `${she} buys ${b} more.`,
      `${she} finds ${b} more.`,
      `${friend} gives ${OBJECT_PRONOUN[g]} ${b} more.`,
    ]);
    story.sentences.push(text);
    story.equations.push(equation(rng, c, '+', b, c + b));
    story.value = c + b;
    story.ops += 1;
    return true;
  }
  if (kind === 'sub') {
    if (c < 2) return false;
    const b = randInt(rng, 1, Math.min(c - 1, MAX_OPERAND));
    const text = pick(rng, [
      `${she} gives ${b} to ${friend}.`,
      `${she} loses ${b}.`,
      `${she} sells ${b}.`,
    ]);
    story.sentences.push(text);
    story.equations.push(equation(rng, c, '-', b, c - b));
    story.value = c - b;
    story.ops += 1;
    return true;
  }
  if (kind === 'mul') {
    const [k, verb] = pick(rng, [[2, 'doubles'], [3, 'triples']] as const);
    if (c * k >= MAX_VALUE) return false;
    story.sentences.push(`Then ${SUBJECT_LC[g]} ${verb} them.`);
    story.equations.push(equation(rng, c, '*', k, c * k));
    story.value = c * k;
    story.ops += 1;
    return true;
  }
  // groups: k containers of b each are added (two operations).
  const [, plural] = pick(rng, CONTAINERS);
  const k = randInt(rng, 2, MAX_GROUPS);
  const b = randInt(rng, 2, MAX_PER_GROUP);
  const x = k * b;
  if (c + x >= MAX_VALUE) return false;
  story.sentences.push(`${she} buys ${k} ${plural} with ${b} in each.`);
  story.equations.push(equation(rng, k, '*', b, x), equation(rng, c, '+', x, c + x));
  story.value = c + x;
  story.ops += 2;
  return true;
}

/**
 * Draws one problem with 1-3 operations. Deterministic in the sequence of numbers `rng` yields;
 * the question text determines the target (the answer's operand order may vary).
 */
export function generateProblem(rng: Rng): ArithProblem {
  for (;;) {
    const targetOps = randInt(rng, 1, 3);
    const [name, g] = pick(rng, NAMES);
    let friend = pick(rng, NAMES)[0];
    while (friend === name) friend = pick(rng, NAMES)[0];
    const obj = pick(rng, OBJECTS);
    const story: Story = { sentences: [], equations: [], value: 0, ops: 0 };
    if (rng() < 0.3) {
      const [single, plural] = pick(rng, CONTAINERS);
      const k = randInt(rng, 2, MAX_GROUPS);
      const b = randInt(rng, 2, MAX_PER_GROUP);
      story.sentences.push(`${name} has ${k} ${plural} of ${obj}.`, `Each ${single} holds ${b}.`);
      story.equations.push(equation(rng, k, '*', b, k * b));
      story.value = k * b;
      story.ops = 1;
    } else {
      story.value = randInt(rng, 2, MAX_START);
      story.sentences.push(`${name} has ${story.value} ${obj}.`);
    }
    const startSentences = story.sentences.length;
    let tries = 0;
    while (story.ops < targetOps && tries < 8) {
      addStep(rng, story, targetOps - story.ops, g, friend);
      tries++;
    }
    if (story.ops !== targetOps) continue;
    const now = story.sentences.length > startSentences ? ' now' : '';
    const question = [...story.sentences, `How many ${obj} does ${name} have${now}?`].join(' ');
    const answer = [...story.equations, `The answer is ${story.value}.`].join(' ');
    return { question, answer, target: story.value };
  }
}

/**
 * `n` distinct problems of one split, in generation order. Problems of the other split are
 * skipped, so the same seed serves both splits and they never overlap.
 */
export function arithSplit(split: ArithSplit, n: number, seed: number = DEFAULT_SEED): ArithProblem[] {
  const rng = makeRng(seed);
  const seen = new Set<string>();
  const out: ArithProblem[] = [];
  const maxDraws = 50 * n + 10_000;
  for (let draws = 0; out.length < n; draws++) {
    if (draws >= maxDraws) {
      throw new Error(`arithSplit: only ${out.length} distinct ${split} problems in ${draws} draws`);
    }
    const p = generateProblem(rng);
    if (splitOf(p.question) !== split || seen.has(p.question)) continue;
    seen.add(p.question);
    out.push(p);
  }
  return out;
}
