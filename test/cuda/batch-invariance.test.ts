import { describe, expect, it } from 'vitest';
import { decodeIdsToEnd } from '../../src/decode/generate.ts';
import type { GenerateOptions } from '../../src/decode/options.ts';
import { loadCudaModel } from '../../src/runtime/cuda/model.ts';
import { modelDir } from '../helpers/golden.ts';
import { EmulatedDevice } from './emulated-device.ts';

/**
 * Batch invariance on the CUDA executor (issue 10, item 5): a row's tokens do not depend on which
 * rows share its batch, in f32 and bf16. Every kernel's arithmetic is row-local, and what shapes
 * it is planned once per graph: GEMM tiles, split-K and tuned configs are keyed by N, K and the
 * head (cudaGemmKey), never by M, so batch 1 and batch 8 launch the same kernels with the same
 * column tiles and splits. Attention chunks start at each row's first visible key, so a row at an
 * offset in the batch's canvas sums in its solo order (fd_attention.cuh; the emulated device
 * computes attention in f64, so that part shows only on a GPU: gpu-engine.test.ts, gpu-v2.test.ts).
 */
const PROMPTS = [[5, 6, 7], [9, 10, 11, 12, 13, 14, 15], [20, 21], [30, 31, 32, 33, 34], [40], [41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51], [60, 61, 62, 63], [70, 71, 72, 73, 74, 75]];

type Launches = Map<string, Set<string>>;

/** Loads a fixture on an emulated device that records, per GEMM kernel launched, its column tiles and splits (grid x and z). */
async function load(name: string, precision: 'f32' | 'bf16') {
  const dev = new EmulatedDevice();
  const m = await loadCudaModel(modelDir(name), { precision, context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(m.executor.plan);
  const rec = { launches: new Map() as Launches };
  const launch = dev.launch.bind(dev);
  dev.launch = (fn, grid, block, smem, params, stream, kname) => {
    const family = m.executor.plan.kernels.find((k) => k.name === kname)?.family ?? '';
    if (family.startsWith('gemm')) {
      const s = rec.launches.get(kname) ?? new Set<string>();
      s.add(`${grid[0]}x${grid[2]}`);
      rec.launches.set(kname, s);
    }
    launch(fn, grid, block, smem, params, stream, kname);
  };
  return { m, rec };
}

describe('batch invariance on the CUDA executor (emulated device)', () => {
  it('the tuning lookup sees a GEMM\'s N, K and whether it is the head, never its rows', async () => {
    const { withModelSource } = await import('../../src/runtime/model-source.ts');
    const { planCuda } = await import('../../src/codegen/cuda/plan.ts');
    const { cudaGemmKey } = await import('../../src/runtime/cuda/tuning-file.ts');
    await withModelSource(modelDir('llada_s20'), undefined, async ({ graph }) => {
      const asked: unknown[] = [];
      planCuda(graph, { precision: 'bf16', headOutputs: 'both', gemmConfig: (shape, head) => { asked.push({ ...shape, head }); return undefined; } });
      expect(asked.length).toBeGreaterThan(0);
      for (const a of asked) expect(Object.keys(a as object).sort()).toEqual(['head', 'k', 'n']);
      expect(cudaGemmKey({ n: 4096, k: 4096 }, false)).toBe('n4096_k4096');
    });
  });

  for (const name of ['llada_s20', 'dream_s20']) {
    for (const precision of ['f32', 'bf16'] as const) {
      it(`${name}, ${precision}: a batch of 8 mixed prompts gives each its solo tokens, with the solo runs' GEMM kernels`, async () => {
        const { m, rec } = await load(name, precision);
        const opts: GenerateOptions = { genLength: 16, blockLength: 8, cache: 'dual', threshold: 0.9 };
        const solo = PROMPTS.map((p) => decodeIdsToEnd(m, [p], opts));
        const soloLaunches = rec.launches;
        rec.launches = new Map();
        const batch = decodeIdsToEnd(m, PROMPTS, opts);
        PROMPTS.forEach((_, i) => expect(batch.tokens[i], `prompt ${i}`).toEqual(solo[i].tokens[0]));
        // The same GEMM kernels (names carry the tile config), the same column tiles and splits.
        expect([...rec.launches.keys()].sort()).toEqual([...soloLaunches.keys()].sort());
        for (const [k, grids] of rec.launches) expect([...grids].sort(), k).toEqual([...soloLaunches.get(k)!].sort());
        m.executor.dispose();
      }, 120_000);
    }
  }
});
