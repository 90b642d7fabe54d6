import { describe, expect, it } from 'vitest';
import { decodeIds } from '../../src/decode/generate.ts';
import { forwardFull } from '../../src/runtime/forward.ts';
import { createCudaExecutor } from '../../src/runtime/cuda/executor.ts';
import { loadCudaModel } from '../../src/runtime/cuda/model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import { checkCaseOn } from '../decode/check-case.ts';
import { loadCases, loadForwardGolden, modelDir, relErr } from '../helpers/golden.ts';
import { EmulatedDevice } from './emulated-device.ts';
import { SPLIT_SHAPE, splitKConfig, TEST_SHAPES } from './gpu-helpers.ts';
import { checkFallbacks, checkTinyModel, type MakeExecutor } from './kernel-checks.ts';

/**
 * The CUDA executor end to end on an emulated device (no GPU): the real plan, packing, launch
 * parameters, buffer planning and state handling, with a CPU model of each kernel family (and
 * nothing compiled: the nvcc checks cover that). What the GPU run then adds is the kernels' own code.
 */
const emulated = (dev = new EmulatedDevice()): MakeExecutor => async (g, w, o) => {
  const ex = await createCudaExecutor(g, w, { ...o, context: dev.context, compile: false });
  dev.registerPlan(ex.plan);
  return ex;
};

describe('CUDA executor on an emulated device', () => {
  for (const { name, dims } of TEST_SHAPES) {
    for (const precision of ['f32', 'bf16'] as const) {
      it(`${name}, ${precision}`, () => checkTinyModel(emulated(), name, dims, precision, [1, 7, 33], 2, 40));
    }
  }

  it('CUDA graphs: each step (window, forward, selection) replays a captured graph, with the same tokens', async () => {
    const cases = loadCases('llada').filter((c) => c.model === 'llada_s20' && c.routine === 'dual_cache' && c.nfe >= 8).slice(0, 3);
    expect(cases.length).toBe(3);
    const dev = new EmulatedDevice();
    const cm = await loadCudaModel(modelDir('llada_s20'), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both', graphs: true });
    dev.registerPlan(cm.executor.plan);
    for (const c of cases) {
      let result;
      for (const ev of decodeIds(cm, [c.prompt], caseOptions(c))) if (ev.type === 'done') result = ev.result;
      expect(result!.tokens[0], c.id).toEqual(c.generated);
      expect(result!.nfe, c.id).toBe(c.nfe);
    }
    const { replays, captures } = cm.executor.graphStats;
    console.log(`CUDA graphs (emulated): ${replays} replays, ${captures} captures over ${cases.length} cases`);
    const nfe = cases.reduce((a, c) => a + c.nfe, 0);
    // Every forward went through a graph; steps within a block repeat their launches exactly.
    expect(replays + captures).toBe(nfe);
    // Fixed head rows per block: only a block's first step of each kind needs a capture.
    expect(replays).toBeGreaterThan(captures);
    expect(dev.graphLaunches).toBe(nfe);
    // The decode step's window and selection are in the same graphs: nothing launches on its own.
    expect(dev.directLaunches).toBe(0);
    cm.executor.dispose();
  });

  it('split-K GEMMs (bf16): two passes per GEMM, the same logits, x0 and caches', async () => {
    const dev = new EmulatedDevice();
    let reduces = 0;
    const split: MakeExecutor = async (g, w, o) => {
      const ex = await createCudaExecutor(g, w, { ...o, context: dev.context, compile: false, gemmConfig: splitKConfig(2) });
      dev.registerPlan(ex.plan);
      reduces = ex.plan.kernels.filter((k) => k.family === 'gemm_reduce').length;
      return ex;
    };
    // Against the f32 reference only: the one-kernel GEMM is no mirror of split-K (it sums in another
    // order); gemm-cpu.test.ts compares the two on their CUDA source, the GPU test against a split mirror.
    await checkTinyModel(split, SPLIT_SHAPE.name, SPLIT_SHAPE.dims, 'bf16', [1, 7, 33], 2, 40);
    // QKV, o-proj, gate/up, down of each layer; never the head.
    expect(reduces).toBe(4 * SPLIT_SHAPE.dims.layers);
  });

  it('Dream\'s greedy maskgit_plus / confidence_threshold steps decide from the fused head: the CPU\'s tokens, no logits read back', async () => {
    for (const name of ['dream_s20', 'dream_s3']) {
      const dev = new EmulatedDevice();
      const cm = await loadCudaModel(modelDir(name), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both' });
      dev.registerPlan(cm.executor.plan);
      const asked = new Set<string>();
      const run = cm.executor.run.bind(cm.executor);
      const m = { ...cm, executor: { headDecisions: true, run: (i: Parameters<typeof run>[0], st?: Parameters<typeof run>[1], want?: readonly string[]) => { asked.add((want ?? ['all']).join('+')); return run(i, st, want); } } };
      const eligible = loadCases('dream').filter((c) => c.model === name && ['maskgit_plus', 'confidence_threshold'].includes(c.params.alg)
        && (c.params.top_p == null || c.params.top_p >= 1) && c.params.top_k == null && !(c.params.temperature > 0));
      const picked = ['generate', 'prefix_cache', 'dual_cache'].flatMap((r) => eligible.filter((c) => c.routine === r && c.nfe <= 32).slice(0, 8));
      expect(picked.length, name).toBeGreaterThanOrEqual(14);
      for (const c of picked) expect(checkCaseOn(m, c), c.id).toEqual([]);
      expect([...asked]).toEqual(['x0+confidence']);
      cm.executor.dispose();
    }
  }, 120_000);

  it('fallback kernels', async () => {
    for (const kvHeads of [1, 3]) await checkFallbacks(emulated(), kvHeads, 2);
  });

  it('golden forward and decoding cases of two fixture models (f32); LLaDA\'s greedy steps read back only x0 and confidence', async () => {
    const golden = loadForwardGolden();
    for (const name of ['llada_s20', 'dream_s5']) {
      const dev = new EmulatedDevice();
      // headOutputs 'both', as loadModelOn loads a GPU model for decoding.
      const cm = await loadCudaModel(modelDir(name), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both' });
      dev.registerPlan(cm.executor.plan);
      expect(cm.executor.headDecisions).toBe(true);
      const asked: string[] = [];
      const run = cm.executor.run.bind(cm.executor);
      const m = { ...cm, executor: { headDecisions: true, run: (i: Parameters<typeof run>[0], st?: Parameters<typeof run>[1], want?: readonly string[]) => { asked.push((want ?? ['all']).join('+')); return run(i, st, want); } } };
      const v = golden[name].vectors.find((x) => x.call === 'full')!;
      const out = forwardFull(m, [v.input_ids]);
      const V = v.logits.shape[1];
      expect(relErr(Array.from(out.data.subarray(0, v.logits.head_rows.length * V)), v.logits.head_rows.flat())).toBeLessThan(1e-4);
      const cases = loadCases(name.startsWith('llada') ? 'llada' : 'dream').filter((c) => c.model === name);
      for (const routine of ['generate', 'prefix_cache', 'dual_cache']) {
        for (const c of cases.filter((x) => x.routine === routine && x.nfe <= 12).slice(0, 1)) {
          let result;
          for (const ev of decodeIds(m, [c.prompt], caseOptions(c))) if (ev.type === 'done') result = ev.result;
          expect(result!.tokens[0], c.id).toEqual(c.generated);
          expect(result!.nfe, c.id).toBe(c.nfe);
        }
      }
      // LLaDA's greedy cases decide from the fused head; Dream's algs need the logits.
      const decodeCalls = new Set(asked.slice(1));
      expect([...decodeCalls]).toEqual([name.startsWith('llada') ? 'x0+confidence' : 'logits']);
      cm.executor.dispose();
    }
  });
});
