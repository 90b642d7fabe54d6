import type { HostBackend } from './kernel.ts';
import { referenceBackend } from './reference/backend.ts';
import { nativeCpuBackend, findCxx } from './native/cpu-backend.ts';

export type HostBackendName = 'native' | 'reference' | 'auto';

let warned = false;

/** Resolves a backend name; 'auto' is native when a C++ compiler exists, else reference (with a warning). */
export async function pickHostBackend(name: HostBackendName): Promise<HostBackend> {
  if (name === 'reference') return referenceBackend;
  const cxx = findCxx();
  if (!cxx) {
    if (name === 'native') throw new Error('backend native: no C++ compiler found (set CXX or install g++)');
    if (!warned) { process.stderr.write('fastdllm: no C++ compiler found; running the slow TypeScript reference kernels\n'); warned = true; }
    return referenceBackend;
  }
  return nativeCpuBackend(cxx);
}
