import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import type { GenerateOptions } from '../../src/decode/options.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { DEFAULT_MODEL_DIR } from '../../src/api.ts';
import { modelDir } from '../helpers/golden.ts';
import { runEngine, type EngineJob } from '../helpers/engine-run.ts';

type Job = EngineJob;

const PROMPTS = [[5, 6, 7], [9, 10, 11, 12, 13, 14, 15], [20, 21], [30, 31, 32, 33, 34]];

describe('the continuous-batching engine never changes an answer', () => {
  for (const cache of ['dual', 'prefix', 'none'] as const) {
    it(`${cache}: rows of different prompt and generation lengths, thresholds, steps and seeds, joining mid-decode, each equal their solo decode (tokens and nfe)`, async () => {
      for (const name of ['llada_s20', 'dream_s20']) {
        const m = await loadHostModel(modelDir(name), { backend: 'native' });
        const dream = m.config.logitShift;
        const jobs: Job[] = [
          { prompt: PROMPTS[0], opts: { genLength: 32, blockLength: 8, cache, threshold: 0.9 }, at: 0 },
          { prompt: PROMPTS[1], opts: { genLength: 16, blockLength: 8, cache, threshold: 0.6 }, at: 0 },
          { prompt: PROMPTS[2], opts: { genLength: 24, blockLength: 8, cache, steps: 12, ...(dream ? {} : { temperature: 0.7, seed: 3 }) }, at: 3 },
          { prompt: PROMPTS[3], opts: { genLength: 16, blockLength: 8, cache, ...(dream ? { alg: 'maskgit_plus' as const, steps: 16 } : { factor: 1 }) }, at: 9 },
          // Guided (its unconditional twin rides after all rows; guidance needs cache none), beside rows that leave.
          ...(dream || cache !== 'none' ? [] : [{ prompt: PROMPTS[1], opts: { genLength: 24, blockLength: 8, cache, threshold: 0.8, cfgScale: 1.5 }, at: 0 }]),
        ];
        const { e, rows } = runEngine(m, jobs);
        jobs.forEach((j, i) => {
          const solo = decodeIdsToEnd(m, [j.prompt], j.opts);
          expect(rows[i].row.generated(), `${name} job ${i}`).toEqual(solo.tokens[0]);
          expect(rows[i].row.nfe, `${name} job ${i} nfe`).toBe(solo.nfe);
          expect(rows[i].finished).toBe(true);
        });
        // Rows admitted at different times shared forwards.
        expect(e.joinedForwards, name).toBeGreaterThan(0);
      }
    }, 60_000);
  }

  it('a cancelled row stops costing forwards; the others decode as before', async () => {
    const m = await loadHostModel(modelDir('llada_s20'), { backend: 'native' });
    for (const cache of ['dual', 'none'] as const) {
      const opts: GenerateOptions = { genLength: 32, blockLength: 8, cache, steps: 32 };
      const jobs = PROMPTS.slice(0, 3).map((prompt) => ({ prompt, opts, at: 0 }));
      const all = runEngine(m, jobs);
      const cut = runEngine(m, jobs, { job: 1, at: 5 });
      // Row 1 takes part in no forward from the cancel on (forwards 0..4 only).
      const withRow1 = cut.forwards.map((f, i) => (f.includes(1) ? i : -1)).filter((i) => i >= 0);
      expect(Math.max(...withRow1), cache).toBe(4);
      const rowForwards = (fw: number[][]) => fw.reduce((s, f) => s + f.length, 0);
      expect(rowForwards(cut.forwards), cache).toBe(rowForwards(all.forwards) - (all.rows[1].row.nfe - 5));
      for (const i of [0, 2]) {
        expect(cut.rows[i].row.generated(), `${cache} row ${i}`).toEqual(all.rows[i].row.generated());
        expect(cut.rows[i].row.nfe).toBe(all.rows[i].row.nfe);
      }
    }
  }, 60_000);

  it('a long prompt beside a long generation: their shared canvas outgrows the model\'s context, each row still equals its solo decode', async () => {
    const m = await loadHostModel(DEFAULT_MODEL_DIR, { backend: 'native' });
    // Blocks start at one canvas index, so the short prompt is padded by the long one's length:
    // 400 + 256 positions in a model of 512, though each row alone fits.
    const jobs: Job[] = [
      { prompt: Array.from({ length: 400 }, (_, i) => 10 + (i % 50)), opts: { genLength: 32, blockLength: 32, cache: 'dual', steps: 32 }, at: 0 },
      { prompt: [11, 12, 13], opts: { genLength: 256, blockLength: 32, cache: 'dual', steps: 256 }, at: 0 },
    ];
    expect(jobs[0].prompt.length + jobs[1].opts.genLength!).toBeGreaterThan(m.config.maxSeqLen);
    const { rows } = runEngine(m, jobs);
    jobs.forEach((j, i) => expect(rows[i].row.generated(), `job ${i}`).toEqual(decodeIdsToEnd(m, [j.prompt], j.opts).tokens[0]));
  }, 60_000);
});
