import { generate, type Model } from '../api.ts';
import type { GenerateOptions } from '../decode/options.ts';
import { extractAnswer, isCorrect } from './extract.ts';
import { modeOptions, type EvalMode } from './modes.ts';

/** A problem to score: the prompt text and the number its answer must state. */
export interface EvalItem { prompt: string; target: number }

/** One row of results, as `fastdllm eval --json` prints it. */
export interface EvalRow {
  mode: string;
  threshold: number | null;
  factor: number | null;
  cache: string;
  /** Exact-match accuracy in [0, 1]. */
  accuracy: number;
  tokensPerSecond: number;
  /** Mean forwards per problem. */
  nfe: number;
  tokensPerForward: number;
  /** tokensPerSecond over the first row's (the baseline's), same run. */
  speedup: number;
}

export interface EvalSettings {
  genLength: number;
  blockLength: number;
  chat: boolean;
  /** Called after every problem: (done, total, row label). */
  progress?: (done: number, total: number, label: string) => void;
}

/**
 * Decodes every item under every mode (batch 1, as the paper measures) and scores the answers.
 * tokens/s counts generated tokens (to the first EOS) over the summed decode wall time.
 */
export async function runEval(model: Model, items: EvalItem[], modes: EvalMode[], s: EvalSettings): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  const total = items.length * modes.length;
  let done = 0;
  for (const m of modes) {
    const opts: GenerateOptions & { chat: boolean } = { ...modeOptions(m, s.genLength, s.blockLength), chat: s.chat };
    let correct = 0, nfe = 0, decoded = 0, generated = 0, ms = 0;
    for (const it of items) {
      const r = await generate(model, it.prompt, opts);
      if (isCorrect(extractAnswer(r.text[0]), it.target)) correct++;
      nfe += r.nfe;
      decoded += r.tokensPerForward * r.nfe;
      generated += r.generatedTokens;
      ms += r.wallMs;
      s.progress?.(++done, total, label(m));
    }
    const tokensPerSecond = ms > 0 ? generated / (ms / 1000) : 0;
    rows.push({
      mode: m.mode, threshold: m.threshold, factor: m.factor, cache: m.cache,
      accuracy: correct / items.length, tokensPerSecond, nfe: nfe / items.length, tokensPerForward: nfe ? decoded / nfe : 0,
      speedup: rows.length ? tokensPerSecond / rows[0].tokensPerSecond : 1,
    });
  }
  return rows;
}

export const label = (m: { mode: string; threshold: number | null; factor: number | null }) =>
  `${m.mode}${m.threshold !== null ? ` ${m.threshold}` : ''}${m.factor !== null ? ` ${m.factor}` : ''}`;

/** The paper-style table. */
export function formatTable(rows: EvalRow[], n: number, task: string): string {
  const head = `| mode | threshold | accuracy | tokens/s | nfe | tokens/forward | speed-up |\n|---|---|---|---|---|---|---|`;
  const lines = rows.map((r) => `| ${r.mode}${r.factor !== null ? ` ${r.factor}` : ''} | ${r.threshold ?? '-'} | ${(100 * r.accuracy).toFixed(1)}% | ${r.tokensPerSecond.toFixed(1)} | ${r.nfe.toFixed(1)} | ${r.tokensPerForward.toFixed(2)} | ${r.speedup.toFixed(2)}x |`);
  return `${task}, ${n} problems\n\n${head}\n${lines.join('\n')}\n`;
}
