import { expect } from 'vitest';
import { DecodeEngine, engineKey } from '../../src/decode/engine.ts';
import { resolveOptions, type GenerateOptions } from '../../src/decode/options.ts';
import type { LoadedModel } from '../../src/runtime/loaded-model.ts';

/** A request for runEngine: its prompt and options, and the forward before which it is added. */
export interface EngineJob { prompt: number[]; opts: GenerateOptions; at: number }

/**
 * Runs jobs through one engine, each added before forward `at` (and one cancelled before forward
 * `cancel.at` when asked); returns the engine, the rows and each forward's row tags. Every job's
 * options must share the first job's engine key (the test would otherwise not share forwards).
 */
export function runEngine(m: LoadedModel, jobs: EngineJob[], cancel?: { job: number; at: number }) {
  const o0 = resolveOptions(jobs[0].opts, m.config, [jobs[0].prompt.length]);
  const e = new DecodeEngine<number>(m, o0);
  const rows: ReturnType<typeof e.add>[] = [];
  const forwards: number[][] = [];
  for (let f = 0; ; f++) {
    jobs.forEach((j, i) => {
      if (j.at !== f) return;
      const o = resolveOptions(j.opts, m.config, [j.prompt.length]);
      expect(engineKey(m, o)).toBe(engineKey(m, o0));
      rows[i] = e.add(j.prompt, o, i, i);
    });
    if (cancel?.at === f) e.cancel(rows[cancel.job]);
    const st = e.step();
    if (!st && jobs.every((j) => j.at < f)) break;
    if (st) forwards.push(st.rows.map((r) => r.tag));
  }
  return { e, rows, forwards };
}
