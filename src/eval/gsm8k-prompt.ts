/**
 * Few-shot prompts for GSM8K-format records, laid out as lm-eval's `gsm8k` task does:
 * `Question: {q}\nAnswer: {a}` shots joined by a blank line, then the question with `Answer:`
 * left open for the model.
 */

/** A GSM8K record: a question and its worked answer ending in `#### N`. */
export interface Gsm8kRecord {
  question: string;
  answer: string;
}

/** Options of `buildGsm8kPrompt`. */
export interface Gsm8kPromptOptions {
  /** Number of shots taken from the front of `shots` (default: all of them). */
  n?: number;
  /**
   * Rewrite each shot's answer into the chain-of-thought form whose last sentence is
   * `The answer is N.` (calculator annotations `<<...>>` dropped), so the strict extraction
   * of `extract.ts` applies to the model's continuation.
   */
  cot?: boolean;
  /** Separator between shots (lm-eval: a blank line). */
  delimiter?: string;
}

/** One shot's answer in CoT form: `<<48/2=24>>` removed, `#### N` turned into a sentence. */
export function toCotAnswer(answer: string): string {
  const body = answer.replace(/<<[^>]*>>/g, '');
  const m = /\n?####\s*(.+)\s*$/.exec(body);
  if (!m) return body.trim();
  const reasoning = body.slice(0, m.index).trim().replace(/\s*\n\s*/g, ' ');
  const final = m[1].trim();
  return `${reasoning}${reasoning ? ' ' : ''}The answer is ${final}.`;
}

/** Builds the few-shot prompt for `question` from the first `n` of `shots`. */
export function buildGsm8kPrompt(
  question: string,
  shots: readonly Gsm8kRecord[],
  options: Gsm8kPromptOptions = {},
): string {
  const n = options.n ?? shots.length;
  if (!Number.isInteger(n) || n < 0 || n > shots.length) {
    throw new Error(`buildGsm8kPrompt: n = ${n} shots asked for, ${shots.length} given`);
  }
  const delimiter = options.delimiter ?? '\n\n';
  const parts = shots.slice(0, n).map((s) => {
    const a = options.cot ? toCotAnswer(s.answer) : s.answer.trim();
    return `Question: ${s.question.trim()}\nAnswer: ${a}`;
  });
  parts.push(`Question: ${question.trim()}\nAnswer:`);
  return parts.join(delimiter);
}
