import { describe, expect, it } from 'vitest';
import { selectScatterArgs } from '../../src/codegen/cuda/step-kernels.ts';
import { SELECT_MODES, thresholdRule } from '../../src/ir/select-rule.ts';
import { decodeIds, decodeIdsToEnd } from '../../src/decode/generate.ts';
import { resolveOptions } from '../../src/decode/options.ts';
import { loadCudaModel, type CudaModel } from '../../src/runtime/cuda/model.ts';
import { loadHostModel } from '../../src/runtime/model.ts';
import { caseOptions } from '../helpers/case-options.ts';
import { loadCases, modelDir } from '../helpers/golden.ts';
import { checkCaseOn } from '../decode/check-case.ts';
import { EmulatedDevice } from './emulated-device.ts';

/** A fixture model on an emulated device, loaded as loadModelOn loads a GPU model (head 'both'). */
async function emulatedModel(name: string): Promise<{ dev: EmulatedDevice; cm: CudaModel; canvases: Int32Array[] }> {
  const dev = new EmulatedDevice();
  const cm = await loadCudaModel(modelDir(name), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(cm.executor.plan);
  // Keep each decode's final device canvas (read just before the session frees it).
  const canvases: Int32Array[] = [];
  const open = cm.executor.deviceDecodeStep.bind(cm.executor);
  cm.executor.deviceDecodeStep = (...a) => {
    const d = open(...a);
    if (typeof d !== 'string') {
      const free = d.dispose.bind(d);
      d.dispose = () => { canvases.push(d.readCanvas()); free(); };
    }
    return d;
  };
  return { dev, cm, canvases };
}

describe('greedy LLaDA steps on the device canvas (emulated device)', () => {
  it("plans select_scatter's arguments from the options' selection rule (no graph is read back)", async () => {
    const { cm } = await emulatedModel('llada_s20');
    const args = (o: { threshold?: number; factor?: number }) => selectScatterArgs(resolveOptions({ genLength: 8, blockLength: 8, ...o }, cm.config, [3]).rule);
    expect(args({})).toEqual({ mode: SELECT_MODES.topk, param: 0 });
    expect(args({ threshold: 0.9 })).toEqual({ mode: SELECT_MODES.threshold, param: 0.9 });
    expect(args({ factor: 1.5 })).toEqual({ mode: SELECT_MODES.factor, param: 1.5 });
    // Dream's rule compares in f32: the launch carries the threshold rounded once.
    expect(selectScatterArgs(thresholdRule(0.9, 'f32'))).toEqual({ mode: SELECT_MODES.threshold, param: Math.fround(0.9) });
    expect(new Set(Object.values(SELECT_MODES)).size).toBe(3);
    // A rule the kernel has no form of (v2's strict or bf16 comparison): the executor says why,
    // as its contract asks (the engine then selects on the host), rather than throwing.
    const canvas = new Int32Array(16);
    for (const rule of [thresholdRule(0.9, 'f32', '>'), thresholdRule(0.9, 'bf16')]) {
      expect(cm.executor.deviceDecodeStep!(rule, canvas, 1, 0)).toMatch(/no device form of the rule/);
    }
    cm.executor.dispose();
  });

  it('golden cases of every routine and mode: the CPU\'s tokens, nfe and per-step choices; one read-back per step', async () => {
    for (const name of ['llada_s20', 'llada_s3']) {
      const { dev, cm, canvases } = await emulatedModel(name);
      const cases = loadCases('llada').filter((c) => c.model === name && !c.params.cfg_scale);
      const picked: typeof cases = [];
      for (const routine of ['generate', 'prefix_cache', 'dual_cache']) {
        for (const mode of ['fixed', 'threshold', 'factor']) {
          picked.push(...cases.filter((c) => c.routine === routine && c.params.mode === mode && c.nfe <= 16).slice(0, 2));
        }
      }
      expect(picked.length, name).toBeGreaterThanOrEqual(12);
      for (const c of picked) {
        expect(checkCaseOn(cm, c), c.id).toEqual([]);
        // The device canvas ends equal to what the host reports.
        const L = c.prompt.length + c.generated.length;
        expect(Array.from(canvases.at(-1)!.subarray(c.prompt.length, L)), c.id).toEqual(c.generated);
      }
      expect(canvases).toHaveLength(picked.length);
      // Steps read back exactly one thing each: the record.
      const c = picked.find((x) => x.routine === 'dual_cache' && x.params.mode === 'threshold')!;
      const reads: number[] = [];
      let before = dev.downloads;
      for (const ev of decodeIds(cm, [c.prompt], caseOptions(c))) {
        if (ev.type !== 'step') continue;
        reads.push(dev.downloads - before);
        before = dev.downloads;
      }
      expect(reads, c.id).toEqual(new Array(c.nfe).fill(1));
      cm.executor.dispose();
    }
  }, 120_000);

  it('a batch of prompts of different lengths decodes as the CPU decodes it', async () => {
    const { cm, canvases } = await emulatedModel('llada_s20');
    const cpu = await loadHostModel(modelDir('llada_s20'), { backend: 'reference' });
    const prompts = loadCases('llada').filter((c) => c.model === 'llada_s20').map((c) => c.prompt);
    const batch = [prompts[0], prompts.find((p) => p.length !== prompts[0].length) ?? prompts[1].slice(1), prompts[2].slice(0, 3)];
    for (const opts of [
      { genLength: 16, blockLength: 8, steps: 16, cache: 'dual' as const, threshold: 0.7 },
      { genLength: 16, blockLength: 8, steps: 8, cache: 'prefix' as const },
      { genLength: 16, blockLength: 8, steps: 16, cache: 'none' as const, factor: 1 },
    ]) {
      const want = decodeIdsToEnd(cpu, batch, opts);
      const got = decodeIdsToEnd(cm, batch, opts);
      expect(got.tokens, JSON.stringify(opts)).toEqual(want.tokens);
      expect(got.nfe).toBe(want.nfe);
      // The device canvas: each row's padded prompt, then its generation.
      const o = resolveOptions(opts, cm.config, batch.map((p) => p.length));
      const L = Math.max(...batch.map((p) => p.length)) + o.genLength;
      const dc = canvases.at(-1)!;
      batch.forEach((_, b) => expect(Array.from(dc.subarray(b * L + L - o.genLength, (b + 1) * L))).toEqual(want.tokens[b]));
    }
    cm.executor.dispose();
  }, 120_000);
});
