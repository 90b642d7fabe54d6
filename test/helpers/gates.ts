import { describe, it } from 'vitest';
import { probeCudaSync } from '../../src/runtime/cuda/device.ts';
import { findNvcc } from '../../src/runtime/cuda/nvcc.ts';
import { findCxx } from '../../src/runtime/native/cpu-backend.ts';

/** A precondition of a group of tests: whether it holds here and, when not, why. */
export interface Gate { ok: boolean; why: string; what: string }

const gpuProbe = probeCudaSync();
/** A usable CUDA GPU (the driver, a device and NVRTC or nvcc). */
export const GPU: Gate = { ok: gpuProbe.ok, what: 'no GPU', why: gpuProbe.reason };
/** No usable GPU: the tests of the CPU fallback's messages. */
export const NO_GPU: Gate = { ok: !gpuProbe.ok, what: 'a GPU is present', why: gpuProbe.reason };
/** nvcc, for the compile checks of the generated CUDA. */
export const NVCC: Gate = { ok: findNvcc() !== null, what: 'no nvcc', why: 'nvcc not found on PATH, in CUDA_HOME or /usr/local/cuda' };
/** A C++ compiler, for the native CPU kernels. */
export const CXX: Gate = { ok: findCxx() !== null, what: 'no C++ compiler', why: 'none of $CXX, g++, c++, clang++ runs' };

/**
 * `describe` when the gate holds; otherwise one visible skipped test named after the reason (and
 * a line on stdout), so a run without a GPU says what it did not check instead of passing silently.
 */
export function describeGated(gate: Gate, name: string, fn: () => void): void {
  if (gate.ok) {
    describe(name, fn);
    return;
  }
  describe(name, () => {
    console.log(`[skipped] ${name}: ${gate.what} (${gate.why})`);
    it.skip(`skipped: ${gate.what} (${gate.why})`, () => {});
  });
}

/** `it` when the gate holds; otherwise a visible skipped test named after the reason (and a line on stdout). */
export function itGated(gate: Gate, name: string, fn: () => unknown, timeout?: number): void {
  if (gate.ok) {
    it(name, fn, timeout);
    return;
  }
  console.log(`[skipped] ${name}: ${gate.what} (${gate.why})`);
  it.skip(`${name} — skipped: ${gate.what} (${gate.why})`, () => {});
}
