import { afterEach, describe, expect, it, vi } from 'vitest';
import { caseOptions } from '../helpers/case-options.ts';
import { loadCases, modelDir } from '../helpers/golden.ts';

/**
 * FASTDLLM_DEVICE_SELECT=0 and FASTDLLM_CUDA_GRAPHS=1 on the emulated device (no GPU). The
 * environment is read once, when src/env.ts loads: each test sets it, then loads the runtime
 * afresh. What the device sees is counted at its boundary: the kernels launched by name, and
 * launches inside and outside graphs.
 */
async function decodeWith(knobs: Record<string, string>) {
  vi.resetModules();
  for (const [k, v] of Object.entries(knobs)) vi.stubEnv(k, v);
  const { loadCudaModel } = await import('../../src/runtime/cuda/model.ts');
  const { decodeIdsToEnd } = await import('../../src/decode/generate.ts');
  const { EmulatedDevice } = await import('./emulated-device.ts');
  const dev = new EmulatedDevice();
  const launched = new Set<string>();
  const launch = dev.launch.bind(dev);
  dev.launch = (...a: Parameters<typeof dev.launch>) => { launched.add(String(a[6])); return launch(...a); };
  // graphs left unset: the knob decides.
  const cm = await loadCudaModel(modelDir('llada_s20'), { precision: 'f32', context: dev.context, compile: false, headOutputs: 'both' });
  dev.registerPlan(cm.executor.plan);
  const cases = loadCases('llada').filter((c) => c.model === 'llada_s20' && c.routine === 'dual_cache' && c.params.mode === 'threshold' && !c.params.cfg_scale).slice(0, 2);
  expect(cases).toHaveLength(2);
  for (const c of cases) {
    const r = decodeIdsToEnd(cm, [c.prompt], caseOptions(c));
    expect(r.tokens[0], c.id).toEqual(c.generated);
    expect(r.nfe, c.id).toBe(c.nfe);
  }
  const stats = { ...cm.executor.graphStats, launched, direct: dev.directLaunches };
  cm.executor.dispose();
  return stats;
}

describe('environment knobs of the CUDA target (emulated device)', () => {
  afterEach(() => { vi.unstubAllEnvs(); vi.resetModules(); });

  it('FASTDLLM_DEVICE_SELECT: 1 (default) selects on the device; 0 on the host, with the same tokens', async () => {
    const onDevice = await decodeWith({ FASTDLLM_DEVICE_SELECT: '1', FASTDLLM_CUDA_GRAPHS: '0' });
    expect(onDevice.launched).toContain('select_scatter');
    expect(onDevice.launched).toContain('decode_window');
    const onHost = await decodeWith({ FASTDLLM_DEVICE_SELECT: '0', FASTDLLM_CUDA_GRAPHS: '0' });
    expect(onHost.launched).not.toContain('select_scatter');
    expect(onHost.launched).not.toContain('decode_window');
    expect(onHost.launched.size).toBeGreaterThan(0);
  });

  it('FASTDLLM_CUDA_GRAPHS: 1 replays captured graphs, 0 (default) launches directly, with the same tokens', async () => {
    const on = await decodeWith({ FASTDLLM_CUDA_GRAPHS: '1', FASTDLLM_DEVICE_SELECT: '1' });
    expect(on.replays).toBeGreaterThan(0);
    expect(on.direct).toBe(0);
    const off = await decodeWith({ FASTDLLM_CUDA_GRAPHS: '0', FASTDLLM_DEVICE_SELECT: '1' });
    expect(off.replays + off.captures).toBe(0);
    expect(off.direct).toBeGreaterThan(0);
  });
});
