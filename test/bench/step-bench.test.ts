import { describe, expect, it } from 'vitest';
import { runStepBench } from '../../bench/device/step-bench-run.ts';
import { EmulatedDevice } from '../cuda/emulated-device.ts';

// The device check's step bench (bench/device/step-bench.ts) run end to end on the CPU model of
// the kernels, at a narrow width: every executor config it times and the four whole decodes
// (host / device selection, with and without CUDA graphs) must run and agree. Its timings mean
// nothing here; what it checks is that the GPU run's script works before a GPU is spent on it.
describe('bench/device/step-bench on an emulated device', () => {
  it('runs every config and the four decodes give the same tokens', async () => {
    const { report, lines } = await runStepBench({ layers: 1, reps: 2, device: new EmulatedDevice() });
    expect(report.emulated).toBe(true);
    for (const label of ['logits', 'x0conf', 'x0confGraph', 'x0confSplit2', 'x0confSplit4']) {
      expect((report[label] as { launches: number }).launches, label).toBeGreaterThan(0);
    }
    expect((report.x0confGraph as { graphStats: { replays: number } }).graphStats.replays).toBeGreaterThan(0);
    const decode = report.decode as Record<string, { nfe: number }> & { sameTokens: boolean };
    expect(decode.sameTokens).toBe(true);
    expect(Object.keys(decode).filter((k) => k !== 'sameTokens').sort()).toEqual(['deviceSelect', 'deviceSelectGraph', 'hostSelect', 'hostSelectGraph']);
    expect(decode.hostSelect.nfe).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/EMULATED/);
  });
});
