import { describe, expect, it } from 'vitest';
import { headModeOf, type HeadMode } from '../../src/decode/engine.ts';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import { resolveOptions, type GenerateOptions } from '../../src/decode/options.ts';
import type { CudaPrecision } from '../../src/codegen/cuda/types.ts';
import { loadCudaModel, type CudaModel } from '../../src/runtime/cuda/model.ts';
import { runEngine, type EngineJob } from '../helpers/engine-run.ts';
import { GPU, describeGated } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';
import { EmulatedDevice } from './emulated-device.ts';

/**
 * The continuous-batching engine on the CUDA executor: rows of different prompt and generation
 * lengths, two of them joining a running batch, each give exactly their solo decode's tokens and
 * nfe on the same device. On CUDA the engine keeps rows that finished or whose block ended early
 * in the batch, idle until the block boundary (their K/V rows stay on the device), where the CPU
 * drops them at once; greedy LLaDA rows select on the device canvas ('device' head mode), Dream's
 * from the fused head ('decisions'). Runs on the emulated device here and, gated, on a GPU in f32
 * and bf16 (bf16: a row's tokens must not depend on which rows share its batch).
 */
type Load = (name: string) => Promise<CudaModel>;
type Cache = 'dual' | 'prefix' | 'none';
const ALL: Cache[] = ['dual', 'prefix', 'none'];

const PROMPTS = [[5, 6, 7], [9, 10, 11, 12, 13, 14, 15], [20, 21], [30, 31, 32, 33, 34]];

/** Four jobs of one engine key: two from the start (one finishes a block early), two joining later. */
function jobs(dream: boolean, cache: Cache): EngineJob[] {
  // One selection rule for LLaDA: on a device canvas rows of one forward share it. Dream's rows
  // mix thresholds and algs that its fused head decides (maskgit_plus, confidence_threshold).
  const o = (genLength: number, extra: Partial<GenerateOptions> = {}): GenerateOptions => ({ genLength, blockLength: 8, cache, threshold: 0.9, ...extra });
  return [
    { prompt: PROMPTS[0], opts: o(32), at: 0 },
    { prompt: PROMPTS[1], opts: o(16, dream ? { threshold: 0.6 } : {}), at: 0 },
    { prompt: PROMPTS[2], opts: o(24, dream ? { threshold: undefined, alg: 'maskgit_plus', steps: 12 } : {}), at: 3 },
    { prompt: PROMPTS[3], opts: o(16, dream ? { threshold: undefined, alg: 'maskgit_plus', steps: 16 } : {}), at: 9 },
  ];
}

/** Runs the jobs through one engine on `m` and compares each row with its solo decode on `m`. */
function checkJoins(m: CudaModel, cache: Cache, want: HeadMode): void {
  const js = jobs(!!m.config.logitShift, cache);
  expect(headModeOf(m, resolveOptions(js[0].opts, m.config, [js[0].prompt.length])), 'head mode').toBe(want);
  const { e, rows } = runEngine(m, js);
  js.forEach((j, i) => {
    const solo = decodeIdsToEnd(m, [j.prompt], j.opts);
    expect(rows[i].finished, `${cache} job ${i} finished`).toBe(true);
    expect(rows[i].row.generated(), `${cache} job ${i} tokens`).toEqual(solo.tokens[0]);
    expect(rows[i].row.nfe, `${cache} job ${i} nfe`).toBe(solo.nfe);
  });
  // Rows admitted at different times shared forwards: the joins happened.
  expect(e.joinedForwards, `${cache} joined forwards`).toBeGreaterThan(0);
}

/** LLaDA in every cache mode; Dream in `dreamCaches` (the emulated device is slow at its vocabulary). */
function engineTests(load: Load, dreamCaches: Cache[], timeout: number): void {
  for (const [name, head, caches] of [['llada_s20', 'device', ALL], ['dream_s20', 'decisions', dreamCaches]] as const) {
    it(`${name} (${head} head), cache ${caches.join(', ')}: joins mid-decode equal solo runs`, async () => {
      const m = await load(name);
      try {
        for (const cache of caches) checkJoins(m, cache, head);
      } finally {
        m.executor.dispose();
      }
    }, timeout);
  }
}

const emulated = (precision: CudaPrecision): Load => async (name) => {
  const dev = new EmulatedDevice();
  const cm = await loadCudaModel(modelDir(name), { precision, context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(cm.executor.plan);
  return cm;
};
const onGpu = (precision: CudaPrecision): Load => (name) => loadCudaModel(modelDir(name), { precision, headOutputs: 'both' });

describe('continuous batching on the CUDA executor (emulated device, f32)', () => engineTests(emulated('f32'), ['dual'], 120_000));

describeGated(GPU, 'GPU continuous batching: a batch with joins equals solo runs', () => {
  for (const precision of ['f32', 'bf16'] as const) describe(precision, () => engineTests(onGpu(precision), ALL, 120_000));
});
