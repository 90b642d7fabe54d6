import { describe, expect } from 'vitest';
import { findCudaTool } from '../../src/runtime/cuda/nvcc.ts';
import { cli } from '../helpers/cli.ts';
import { itGated, NVCC, type Gate } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';

/** `inspect --emit ptx|sass|resources` of one kernel, compiled by nvcc (no GPU needed). */
const CUOBJDUMP: Gate = { ok: NVCC.ok && findCudaTool('cuobjdump') !== null, what: 'no cuobjdump', why: 'cuobjdump (CUDA toolkit) not found on PATH, in CUDA_HOME or /usr/local/cuda' };
const inspect = (emit: string, arch = 'sm_80') => {
  const r = cli(['inspect', '--model', modelDir('llada_s20'), '--kernel', 'select_scatter', '--emit', emit, '--device-arch', arch]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describe('fastdllm inspect --emit (nvcc)', () => {
  itGated(NVCC, 'ptx: the kernel\'s entry for the asked arch; resources: its registers and the shared memory the PTX declares', () => {
    for (const arch of ['sm_80', 'sm_90a']) {
      const ptx = inspect('ptx', arch);
      expect(ptx).toContain(`.target ${arch}`);
      expect(ptx).toMatch(/\.visible \.entry select_scatter\(/);
      expect(ptx).toMatch(/\.shared /);
    }
    const res = Object.fromEntries(inspect('resources').trim().split('\n').map((l) => { const m = /^(\S+)\s+(.*)$/.exec(l)!; return [m[1], m[2]]; }));
    expect(res.name).toBe('select_scatter');
    expect(res.arch).toBe('sm_80');
    expect(Number(res.registers)).toBeGreaterThan(0);
    expect(Number(res.registers)).toBeLessThanOrEqual(255);
    expect(Number(res.sharedBytes)).toBeGreaterThan(0);
    expect(Number(res.spillStores) + Number(res.spillLoads)).toBe(0);
  }, 300_000);

  itGated(CUOBJDUMP, 'sass: the kernel\'s machine code', () => {
    const sass = inspect('sass');
    expect(sass).toContain('select_scatter');
    expect(sass).toMatch(/\bEXIT\b/);
  }, 300_000);
});
