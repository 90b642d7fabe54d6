/**
 * Answer extraction as lm-eval's gsm8k tasks do it, so accuracies here compare with theirs.
 *
 * - strict (gsm8k-cot): `The answer is (-?[0-9.,]+)`;
 * - flexible fallback: the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)` in the text;
 * - then lm-eval's `regexes_to_ignore`: every `,` and `$`, and one trailing `.`.
 */

const COT_RE = /The answer is (-?[0-9.,]+)/;
const FLEXIBLE_RE = /(-?[$0-9.,]{2,})|(-?[0-9]+)/g;

/** Applies lm-eval's gsm8k clean-up: drop `,` and `$`, then a trailing `.`. */
export function cleanNumber(raw: string): string {
  return raw.replace(/,/g, '').replace(/\$/g, '').replace(/\.$/, '');
}

/** True when a cleaned string reads as a finite number. */
function isNumeric(s: string): boolean {
  return s.length > 0 && /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/.test(s);
}

/**
 * The answer a model's text states: the CoT form `The answer is N` when present and numeric,
 * else the last number-like run in the text; cleaned as lm-eval does. `null` when the text
 * has no number.
 */
export function extractAnswer(text: string): string | null {
  const cot = COT_RE.exec(text);
  if (cot) {
    const s = cleanNumber(cot[1]);
    if (isNumeric(s)) return s;
  }
  let last: string | null = null;
  for (const m of text.matchAll(FLEXIBLE_RE)) last = m[1] ?? m[2];
  if (last === null) return null;
  const s = cleanNumber(last);
  return s.length > 0 ? s : null;
}

/** The gold number of a GSM8K answer (`... #### 1,234`), or null when there is none. */
export function parseGsm8kTarget(answer: string): number | null {
  const m = /####\s*(-?[$0-9.,]+)/.exec(answer);
  if (!m) return null;
  const s = cleanNumber(m[1]);
  return isNumeric(s) ? Number(s) : null;
}

/** Numeric exact match: `pred` (an extracted string, or null) equals `target`. */
export function isCorrect(pred: string | null, target: number): boolean {
  if (pred === null || !isNumeric(pred)) return false;
  return Number(pred) === target;
}
