import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi from 'koffi';
import { env, debugLog } from '../../env.ts';
import { cudaLibraryDirs, loadFirst } from './library-search.ts';

/** A failed NVRTC call (not a compile error: those are NvrtcCompileError). */
export class NvrtcError extends Error {
  constructor(readonly call: string, readonly code: number, readonly codeName: string) {
    super(`${call} failed: ${codeName} (${code})`);
  }
}

const PROTOS = {
  nvrtcVersion: 'int nvrtcVersion(_Out_ int *major, _Out_ int *minor)',
  nvrtcGetErrorString: 'const char *nvrtcGetErrorString(int r)',
  nvrtcCreateProgram: 'int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)',
  nvrtcDestroyProgram: 'int nvrtcDestroyProgram(_Inout_ void **prog)',
  nvrtcCompileProgram: 'int nvrtcCompileProgram(void *prog, int numOptions, const char **options)',
  nvrtcGetProgramLogSize: 'int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *n)',
  nvrtcGetProgramLog: 'int nvrtcGetProgramLog(void *prog, uint8_t *log)',
  nvrtcGetCUBINSize: 'int nvrtcGetCUBINSize(void *prog, _Out_ size_t *n)',
  nvrtcGetCUBIN: 'int nvrtcGetCUBIN(void *prog, uint8_t *cubin)',
  nvrtcGetPTXSize: 'int nvrtcGetPTXSize(void *prog, _Out_ size_t *n)',
  nvrtcGetPTX: 'int nvrtcGetPTX(void *prog, uint8_t *ptx)',
  nvrtcGetNumSupportedArchs: 'int nvrtcGetNumSupportedArchs(_Out_ int *n)',
  nvrtcGetSupportedArchs: 'int nvrtcGetSupportedArchs(int *archs)',
} as const;

type Fn = ((...args: any[]) => any) & { async?: (...args: any[]) => void };
export type NvrtcFns = { [K in keyof typeof PROTOS]: Fn };

/** The loaded NVRTC library, its version, and where it came from. */
export interface NvrtcLib {
  fns: NvrtcFns;
  path: string;
  version: string;
  /** Compute capabilities (major*10 + minor) it can emit code for. */
  archs: number[];
}

let loaded: NvrtcLib | undefined;

/**
 * Loads NVRTC (FASTDLLM_NVRTC_LIB, else libnvrtc.so.13 / .12 / libnvrtc.so through the system
 * loader, CUDA_HOME, /usr/local/cuda, the distro's folders and PyTorch's nvidia/ wheels).
 */
export function loadNvrtc(): NvrtcLib {
  if (loaded) return loaded;
  const { lib, path } = loadFirst('libnvrtc (NVRTC, the CUDA run-time compiler)', ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so'], cudaLibraryDirs(), env.nvrtcLib,
    'Install the CUDA toolkit (or PyTorch, whose nvidia/ wheels carry it), or set FASTDLLM_NVRTC_LIB to the path of libnvrtc.so.');
  preloadBuiltins(path);
  const fns = {} as Record<string, Fn>;
  for (const [k, proto] of Object.entries(PROTOS)) {
    try {
      fns[k] = lib.func(proto);
    } catch {
      fns[k] = () => { throw new Error(`this NVRTC has no ${k}`); };
    }
  }
  const f = fns as NvrtcFns;
  const major = [0], minor = [0];
  checkNvrtc(f, 'nvrtcVersion', f.nvrtcVersion(major, minor));
  let archs: number[] = [];
  try {
    const n = [0];
    checkNvrtc(f, 'nvrtcGetNumSupportedArchs', f.nvrtcGetNumSupportedArchs(n));
    const a = new Int32Array(n[0]);
    checkNvrtc(f, 'nvrtcGetSupportedArchs', f.nvrtcGetSupportedArchs(a));
    archs = Array.from(a);
  } catch {
    /* an old NVRTC: assume it supports the device, the compile will say otherwise */
  }
  loaded = { fns: f, path, version: `${major[0]}.${minor[0]}`, archs };
  return loaded;
}

/** Throws an NvrtcError unless rc is NVRTC_SUCCESS. */
export function checkNvrtc(f: NvrtcFns, call: string, rc: number): void {
  if (rc !== 0) {
    let name = `nvrtcResult ${rc}`;
    try {
      name = f.nvrtcGetErrorString(rc) ?? name;
    } catch {
      /* keep the number */
    }
    throw new NvrtcError(call, rc, name);
  }
}

/**
 * NVRTC dlopens libnvrtc-builtins by soname at compile time; loading it first from NVRTC's own
 * folder makes that succeed even when the folder is on no search path (pip wheels, a bare toolkit).
 */
function preloadBuiltins(nvrtcPath: string): void {
  if (!nvrtcPath.startsWith('/')) return;
  try {
    const dir = dirname(nvrtcPath);
    for (const f of readdirSync(dir).filter((x) => x.startsWith('libnvrtc-builtins.so')).sort()) {
      try {
        koffi.load(join(dir, f));
        debugLog(1, `preloaded ${join(dir, f)}`);
        return;
      } catch {
        /* try the next name */
      }
    }
  } catch {
    /* NVRTC will search itself */
  }
}
