import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, vi } from 'vitest';
import { describeGated, itGated, NVCC } from '../helpers/gates.ts';

const tmp = mkdtempSync(join(tmpdir(), 'fastdllm-cuda-dump-'));
const DUMP = join(tmp, 'dump'), OVER = join(tmp, 'over');
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(tmp, { recursive: true, force: true });
});

const kernel = (name: string) => `extern "C" __global__ void ${name}(float* out) { out[threadIdx.x] = 1.0f; }\n`;

describeGated(NVCC, 'CUDA modules go through the same dump / override path as the CPU\'s (nvcc, no GPU)', () => {
  itGated(NVCC, 'dumps <name>.cu and compiles a same-named override instead of the generated source', async () => {
    // env.ts reads the knobs once, when it loads: set them, then load the compile path afresh.
    vi.resetModules();
    vi.stubEnv('FASTDLLM_DUMP_DIR', DUMP);
    vi.stubEnv('FASTDLLM_OVERRIDE_DIR', OVER);
    const { compileModule } = await import('../../src/runtime/cuda/compile.ts');
    const { KernelCache } = await import('../../src/runtime/kernel-cache.ts');
    const cache = new KernelCache(join(tmp, 'cache'));
    const plain = await compileModule('fd_probe', kernel('fd_probe_generated'), 80, cache);
    expect(readFileSync(join(DUMP, 'fd_probe.cu'), 'utf8')).toBe(kernel('fd_probe_generated'));
    expect(Buffer.from(plain.image).includes('fd_probe_generated')).toBe(true);
    mkdirSync(OVER, { recursive: true });
    writeFileSync(join(OVER, 'fd_probe.cu'), kernel('fd_probe_hand_edited'));
    const over = await compileModule('fd_probe', kernel('fd_probe_generated'), 80, cache);
    const image = Buffer.from(over.image);
    expect(image.includes('fd_probe_hand_edited')).toBe(true);
    expect(image.includes('fd_probe_generated')).toBe(false);
    // The dump still holds what was generated, so it can seed the next override.
    expect(readFileSync(join(DUMP, 'fd_probe.cu'), 'utf8')).toBe(kernel('fd_probe_generated'));
  }, 120_000);
});
