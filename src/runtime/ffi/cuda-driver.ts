import koffi, { type LibraryHandle } from 'koffi';
import { env } from '../../env.ts';
import { cudaLibraryDirs, loadFirst } from './library-search.ts';

/** A failed CUDA driver call: the call's name, the CUresult and its name. */
export class CudaError extends Error {
  constructor(readonly call: string, readonly code: number, readonly codeName: string, detail = '') {
    super(`${call} failed: ${codeName} (${code})${detail ? `: ${detail}` : ''}`);
  }
}

/** Fallback names of common CUresult codes, for when cuGetErrorName itself is unavailable. */
const CU_NAMES: Record<number, string> = {
  1: 'CUDA_ERROR_INVALID_VALUE', 2: 'CUDA_ERROR_OUT_OF_MEMORY', 3: 'CUDA_ERROR_NOT_INITIALIZED', 4: 'CUDA_ERROR_DEINITIALIZED',
  34: 'CUDA_ERROR_STUB_LIBRARY', 35: 'CUDA_ERROR_INSUFFICIENT_DRIVER', 100: 'CUDA_ERROR_NO_DEVICE', 101: 'CUDA_ERROR_INVALID_DEVICE',
  200: 'CUDA_ERROR_INVALID_IMAGE', 201: 'CUDA_ERROR_INVALID_CONTEXT', 209: 'CUDA_ERROR_NO_BINARY_FOR_GPU', 218: 'CUDA_ERROR_INVALID_PTX',
  222: 'CUDA_ERROR_UNSUPPORTED_PTX_VERSION', 400: 'CUDA_ERROR_INVALID_HANDLE', 500: 'CUDA_ERROR_NOT_FOUND',
  700: 'CUDA_ERROR_ILLEGAL_ADDRESS', 701: 'CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES', 702: 'CUDA_ERROR_LAUNCH_TIMEOUT',
  716: 'CUDA_ERROR_MISALIGNED_ADDRESS', 719: 'CUDA_ERROR_LAUNCH_FAILED', 999: 'CUDA_ERROR_UNKNOWN',
};

export const CU_ERROR_OUT_OF_MEMORY = 2;

/** Device attributes we read (CUdevice_attribute). */
export const CU_DEVICE_ATTRIBUTE = {
  MAX_THREADS_PER_BLOCK: 1, MAX_SHARED_MEMORY_PER_BLOCK: 8, WARP_SIZE: 10, CLOCK_RATE: 13, MULTIPROCESSOR_COUNT: 16,
  MEMORY_CLOCK_RATE: 36, GLOBAL_MEMORY_BUS_WIDTH: 37, L2_CACHE_SIZE: 38, COMPUTE_CAPABILITY_MAJOR: 75,
  COMPUTE_CAPABILITY_MINOR: 76, MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: 97,
} as const;

/** Function attributes (CUfunction_attribute). */
export const CU_FUNC_ATTRIBUTE = {
  MAX_THREADS_PER_BLOCK: 0, SHARED_SIZE_BYTES: 1, CONST_SIZE_BYTES: 2, LOCAL_SIZE_BYTES: 3, NUM_REGS: 4,
  PTX_VERSION: 5, BINARY_VERSION: 6, MAX_DYNAMIC_SHARED_SIZE_BYTES: 8,
} as const;

/** Raw driver entry points (all return a CUresult); handles are BigInt pointers, device memory u64. */
const PROTOS = {
  cuInit: 'int cuInit(unsigned int flags)',
  cuDriverGetVersion: 'int cuDriverGetVersion(_Out_ int *v)',
  cuDeviceGetCount: 'int cuDeviceGetCount(_Out_ int *n)',
  cuDeviceGet: 'int cuDeviceGet(_Out_ int *dev, int ordinal)',
  cuDeviceGetName: 'int cuDeviceGetName(uint8_t *name, int len, int dev)',
  cuDeviceGetAttribute: 'int cuDeviceGetAttribute(_Out_ int *v, int attrib, int dev)',
  cuDeviceTotalMem: 'int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)',
  cuDevicePrimaryCtxRetain: 'int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)',
  cuDevicePrimaryCtxRelease: 'int cuDevicePrimaryCtxRelease_v2(int dev)',
  cuCtxSetCurrent: 'int cuCtxSetCurrent(void *ctx)',
  cuCtxSynchronize: 'int cuCtxSynchronize()',
  cuMemGetInfo: 'int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)',
  cuMemAlloc: 'int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)',
  cuMemFree: 'int cuMemFree_v2(uint64_t dptr)',
  cuMemcpyHtoD: 'int cuMemcpyHtoD_v2(uint64_t dst, const void *src, size_t bytes)',
  cuMemcpyDtoH: 'int cuMemcpyDtoH_v2(void *dst, uint64_t src, size_t bytes)',
  cuMemcpyDtoD: 'int cuMemcpyDtoD_v2(uint64_t dst, uint64_t src, size_t bytes)',
  cuMemsetD8: 'int cuMemsetD8_v2(uint64_t dst, uint8_t v, size_t n)',
  cuMemsetD32: 'int cuMemsetD32_v2(uint64_t dst, uint32_t v, size_t n)',
  cuModuleLoadData: 'int cuModuleLoadData(_Out_ void **mod, const void *image)',
  cuModuleUnload: 'int cuModuleUnload(void *mod)',
  cuModuleGetFunction: 'int cuModuleGetFunction(_Out_ void **fn, void *mod, const char *name)',
  cuFuncGetAttribute: 'int cuFuncGetAttribute(_Out_ int *v, int attrib, void *fn)',
  cuFuncSetAttribute: 'int cuFuncSetAttribute(void *fn, int attrib, int value)',
  cuLaunchKernel: 'int cuLaunchKernel(void *f, uint32_t gx, uint32_t gy, uint32_t gz, uint32_t bx, uint32_t by, uint32_t bz, uint32_t smem, void *stream, uint64_t params, void *extra)',
  cuStreamCreate: 'int cuStreamCreate(_Out_ void **s, uint32_t flags)',
  cuStreamDestroy: 'int cuStreamDestroy_v2(void *s)',
  cuStreamSynchronize: 'int cuStreamSynchronize(void *s)',
  cuEventCreate: 'int cuEventCreate(_Out_ void **e, uint32_t flags)',
  cuEventDestroy: 'int cuEventDestroy_v2(void *e)',
  cuEventRecord: 'int cuEventRecord(void *e, void *s)',
  cuEventSynchronize: 'int cuEventSynchronize(void *e)',
  cuEventElapsedTime: 'int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)',
  cuStreamBeginCapture: 'int cuStreamBeginCapture_v2(void *s, int mode)',
  cuStreamEndCapture: 'int cuStreamEndCapture(void *s, _Out_ void **graph)',
  cuGraphInstantiate: 'int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, uint64_t flags)',
  cuGraphLaunch: 'int cuGraphLaunch(void *exec, void *s)',
  cuGraphExecDestroy: 'int cuGraphExecDestroy(void *exec)',
  cuGraphDestroy: 'int cuGraphDestroy(void *g)',
  cuGetErrorName: 'int cuGetErrorName(int e, _Out_ const char **s)',
  cuGetErrorString: 'int cuGetErrorString(int e, _Out_ const char **s)',
} as const;

type Fn = (...args: any[]) => any;
export type CudaDriverFns = { [K in keyof typeof PROTOS]: Fn };

/** The loaded driver: raw entry points plus where the library came from. */
export interface CudaDriverLib {
  fns: CudaDriverFns;
  path: string;
  /** Entry points this driver lacks (an old driver): calling them throws. */
  missing: string[];
}

let loaded: CudaDriverLib | undefined;

/**
 * Loads libcuda (FASTDLLM_CUDA_LIB, else libcuda.so.1 through the system loader, else the usual
 * driver folders). Throws LibraryNotFoundError listing every path tried; never crashes.
 */
export function loadCudaDriver(): CudaDriverLib {
  if (loaded) return loaded;
  const { lib, path } = loadFirst('libcuda (the NVIDIA driver)', ['libcuda.so.1', 'libcuda.so'], cudaLibraryDirs(), env.cudaLib,
    'Is an NVIDIA driver installed? Set FASTDLLM_CUDA_LIB to the path of libcuda.so.1.');
  const { fns, missing } = bind(lib);
  loaded = { fns: fns as CudaDriverFns, path, missing };
  return loaded;
}

function bind(lib: LibraryHandle): { fns: Record<string, Fn>; missing: string[] } {
  const fns: Record<string, Fn> = {};
  const missing: string[] = [];
  for (const [k, proto] of Object.entries(PROTOS)) {
    try {
      fns[k] = lib.func(proto);
    } catch {
      missing.push(k);
      fns[k] = () => { throw new Error(`this CUDA driver has no ${proto.split('(')[0].split(' ').pop()}`); };
    }
  }
  return { fns, missing };
}

/** Name and description of a CUresult, through the driver when it can say. */
export function cuErrorName(code: number): string {
  try {
    const s: (string | null)[] = [null];
    if (loaded && loaded.fns.cuGetErrorName(code, s) === 0 && s[0]) return s[0];
  } catch {
    /* fall back to the table */
  }
  return CU_NAMES[code] ?? `CUresult ${code}`;
}

/** Throws a CudaError unless rc is CUDA_SUCCESS. */
export function check(call: string, rc: number, detail = ''): void {
  if (rc !== 0) {
    let desc = '';
    try {
      const s: (string | null)[] = [null];
      if (loaded && loaded.fns.cuGetErrorString(rc, s) === 0 && s[0]) desc = s[0];
    } catch {
      /* no description */
    }
    throw new CudaError(call, rc, cuErrorName(rc), [desc, detail].filter(Boolean).join('; '));
  }
}

/** A native block of launch parameters: slot i is 8 bytes, and kernelParams[i] points at it. */
export class ParamBlock {
  readonly mem: bigint;
  private readonly n: number;
  /** What each slot holds, so an unchanged value (the common case between steps) is not re-encoded. */
  private readonly last: (bigint | number | undefined)[];

  constructor(n: number) {
    this.n = n;
    this.last = new Array(n);
    this.mem = koffi.address(koffi.alloc('uint8_t', Math.max(1, n) * 16));
    for (let i = 0; i < n; i++) koffi.encode(this.mem, i * 8, 'uint64_t', this.mem + BigInt(n * 8 + i * 8));
  }

  setPtr(i: number, v: bigint): void {
    if (this.last[i] === v) return;
    koffi.encode(this.mem, (this.n + i) * 8, 'uint64_t', v);
    this.last[i] = v;
  }

  setI32(i: number, v: number): void {
    if (this.last[i] === v) return;
    koffi.encode(this.mem, (this.n + i) * 8, 'int32_t', v);
    this.last[i] = v;
  }

  setI64(i: number, v: number): void {
    if (this.last[i] === v) return;
    koffi.encode(this.mem, (this.n + i) * 8, 'int64_t', BigInt(v));
    this.last[i] = v;
  }

  /** The values as set (every slot is set before each launch): a key for launches that repeat. */
  get key(): string {
    return this.last.join(',');
  }

  /** The kernelParams array's address. */
  get address(): bigint {
    return this.mem;
  }

  free(): void {
    koffi.free(this.mem);
  }
}
