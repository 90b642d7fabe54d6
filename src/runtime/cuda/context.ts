import { debugLog } from '../../env.ts';
import { formatBytes } from '../../util/format.ts';
import { check, CU_DEVICE_ATTRIBUTE as A, CU_ERROR_OUT_OF_MEMORY, CU_FUNC_ATTRIBUTE as F, CudaError, cuErrorName, loadCudaDriver, type CudaDriverFns, type ParamBlock } from '../ffi/cuda-driver.ts';

/** What a kernel's compiled code uses, as the driver reports it. */
export interface FunctionAttributes {
  registers: number;
  localBytes: number;
  sharedBytes: number;
  maxThreadsPerBlock: number;
}

/** The device: name, compute capability, sizes, driver. */
export interface DeviceInfo {
  ordinal: number;
  name: string;
  major: number;
  minor: number;
  /** NVRTC / nvcc arch name, e.g. sm_90. */
  arch: string;
  multiprocessors: number;
  totalBytes: number;
  l2Bytes: number;
  sharedOptinBytes: number;
  /** Peak DRAM bandwidth from the memory clock and bus width (a datasheet figure, not a measurement). */
  peakBandwidthGBs: number;
  driverVersion: string;
  driverPath: string;
}

const contexts = new Map<number, CudaContext>();

/**
 * One GPU through the driver API with its primary context current on this thread. Every call is
 * checked: a failure is a CudaError naming the call; running out of memory says how much was
 * asked for and how much is free.
 */
export class CudaContext {
  private constructor(readonly cu: CudaDriverFns, readonly ctx: bigint, readonly info: DeviceInfo) {}

  /** Initialises the driver and retains device `ordinal`'s primary context (once per process). */
  static open(ordinal = 0): CudaContext {
    const have = contexts.get(ordinal);
    if (have) {
      check('cuCtxSetCurrent', have.cu.cuCtxSetCurrent(have.ctx));
      return have;
    }
    const drv = loadCudaDriver();
    const cu = drv.fns;
    check('cuInit', cu.cuInit(0));
    const count = [0];
    check('cuDeviceGetCount', cu.cuDeviceGetCount(count));
    if (ordinal >= count[0]) throw new CudaError('cuDeviceGet', 101, 'CUDA_ERROR_INVALID_DEVICE', `device ${ordinal} requested, ${count[0]} present`);
    const dev = [0];
    check('cuDeviceGet', cu.cuDeviceGet(dev, ordinal));
    const attr = (a: number) => {
      const v = [0];
      check('cuDeviceGetAttribute', cu.cuDeviceGetAttribute(v, a, dev[0]));
      return v[0];
    };
    const nameBuf = new Uint8Array(256);
    check('cuDeviceGetName', cu.cuDeviceGetName(nameBuf, 256, dev[0]));
    const total = [0];
    check('cuDeviceTotalMem', cu.cuDeviceTotalMem(total, dev[0]));
    const ver = [0];
    check('cuDriverGetVersion', cu.cuDriverGetVersion(ver));
    const major = attr(A.COMPUTE_CAPABILITY_MAJOR), minor = attr(A.COMPUTE_CAPABILITY_MINOR);
    const info: DeviceInfo = {
      ordinal,
      name: new TextDecoder().decode(nameBuf.subarray(0, nameBuf.indexOf(0))),
      major, minor, arch: `sm_${major}${minor}`,
      multiprocessors: attr(A.MULTIPROCESSOR_COUNT),
      totalBytes: Number(total[0]),
      l2Bytes: attr(A.L2_CACHE_SIZE),
      sharedOptinBytes: attr(A.MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
      peakBandwidthGBs: (2 * attr(A.MEMORY_CLOCK_RATE) * 1e3 * (attr(A.GLOBAL_MEMORY_BUS_WIDTH) / 8)) / 1e9,
      driverVersion: `${Math.floor(ver[0] / 1000)}.${(ver[0] % 1000) / 10}`,
      driverPath: drv.path,
    };
    const ctx: (bigint | null)[] = [null];
    check('cuDevicePrimaryCtxRetain', cu.cuDevicePrimaryCtxRetain(ctx, dev[0]));
    check('cuCtxSetCurrent', cu.cuCtxSetCurrent(ctx[0]));
    debugLog(1, `cuda: ${info.name} (${info.arch}, ${info.multiprocessors} SMs, ${formatBytes(info.totalBytes)}), driver ${info.driverVersion} from ${drv.path}`);
    const c = new CudaContext(cu, ctx[0]!, info);
    contexts.set(ordinal, c);
    return c;
  }

  memInfo(): { free: number; total: number } {
    const f = [0], t = [0];
    check('cuMemGetInfo', this.cu.cuMemGetInfo(f, t));
    return { free: Number(f[0]), total: Number(t[0]) };
  }

  /** Device memory of `bytes` (at least 1); `what` names it in an out-of-memory error. */
  alloc(bytes: number, what: string): bigint {
    const p = [0n];
    const rc = this.cu.cuMemAlloc(p, Math.max(1, bytes));
    if (rc === CU_ERROR_OUT_OF_MEMORY) {
      let free = '?', total = '?';
      try {
        const m = this.memInfo();
        free = formatBytes(m.free);
        total = formatBytes(m.total);
      } catch {
        /* report what we know */
      }
      throw new CudaError('cuMemAlloc', rc, cuErrorName(rc), `out of device memory: ${formatBytes(bytes)} needed for ${what}, ${free} free of ${total}`);
    }
    check('cuMemAlloc', rc, `${formatBytes(bytes)} for ${what}`);
    return BigInt(p[0]);
  }

  free(ptr: bigint): void {
    if (ptr) check('cuMemFree', this.cu.cuMemFree(ptr));
  }

  upload(dst: bigint, src: ArrayBufferView): void {
    if (src.byteLength) check('cuMemcpyHtoD', this.cu.cuMemcpyHtoD(dst, src, src.byteLength));
  }

  download(dst: ArrayBufferView, src: bigint): void {
    if (dst.byteLength) check('cuMemcpyDtoH', this.cu.cuMemcpyDtoH(dst, src, dst.byteLength));
  }

  /** Device-to-device copy (ordered on the default stream). */
  copy(dst: bigint, src: bigint, bytes: number): void {
    if (bytes) check('cuMemcpyDtoD', this.cu.cuMemcpyDtoD(dst, src, bytes));
  }

  zero(ptr: bigint, bytes: number): void {
    if (bytes) check('cuMemsetD8', this.cu.cuMemsetD8(ptr, 0, bytes));
  }

  /** Fills `count` 32-bit words with `word` (NaN poison in tests). */
  fill32(ptr: bigint, word: number, count: number): void {
    if (count) check('cuMemsetD32', this.cu.cuMemsetD32(ptr, word >>> 0, count));
  }

  loadModule(image: Uint8Array, name: string): bigint {
    const m: (bigint | null)[] = [null];
    check('cuModuleLoadData', this.cu.cuModuleLoadData(m, image), `module ${name}`);
    return m[0]!;
  }

  getFunction(mod: bigint, name: string): bigint {
    const f: (bigint | null)[] = [null];
    check('cuModuleGetFunction', this.cu.cuModuleGetFunction(f, mod, name), name);
    return f[0]!;
  }

  functionAttributes(fn: bigint): FunctionAttributes {
    const get = (a: number) => {
      const v = [0];
      check('cuFuncGetAttribute', this.cu.cuFuncGetAttribute(v, a, fn));
      return v[0];
    };
    return { registers: get(F.NUM_REGS), localBytes: get(F.LOCAL_SIZE_BYTES), sharedBytes: get(F.SHARED_SIZE_BYTES), maxThreadsPerBlock: get(F.MAX_THREADS_PER_BLOCK) };
  }

  launch(fn: bigint, grid: readonly number[], block: readonly number[], sharedBytes: number, params: ParamBlock, stream: bigint | null, name: string): void {
    check('cuLaunchKernel', this.cu.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], sharedBytes, stream, params.address, null),
      `${name} grid [${grid}] block [${block}]`);
  }

  synchronize(what = ''): void {
    check('cuCtxSynchronize', this.cu.cuCtxSynchronize(), what);
  }

  createStream(): bigint {
    const s: (bigint | null)[] = [null];
    check('cuStreamCreate', this.cu.cuStreamCreate(s, 0));
    return s[0]!;
  }

  /** Starts recording the launches made on `stream` into a graph (thread-local capture mode). */
  beginCapture(stream: bigint): void {
    check('cuStreamBeginCapture', this.cu.cuStreamBeginCapture(stream, 1));
  }

  /** Ends a capture and instantiates the recorded graph; returns the executable graph. */
  endCapture(stream: bigint): bigint {
    const g: (bigint | null)[] = [null];
    check('cuStreamEndCapture', this.cu.cuStreamEndCapture(stream, g));
    const exec: (bigint | null)[] = [null];
    try {
      check('cuGraphInstantiate', this.cu.cuGraphInstantiate(exec, g[0], 0));
    } finally {
      this.cu.cuGraphDestroy(g[0]);
    }
    return exec[0]!;
  }

  graphLaunch(exec: bigint, stream: bigint): void {
    check('cuGraphLaunch', this.cu.cuGraphLaunch(exec, stream));
  }

  destroyGraph(exec: bigint): void {
    check('cuGraphExecDestroy', this.cu.cuGraphExecDestroy(exec));
  }

  createEvent(): bigint {
    const e: (bigint | null)[] = [null];
    check('cuEventCreate', this.cu.cuEventCreate(e, 0));
    return e[0]!;
  }

  record(ev: bigint, stream: bigint | null): void {
    check('cuEventRecord', this.cu.cuEventRecord(ev, stream));
  }

  /** Milliseconds between two recorded events (waits for the second). */
  elapsed(start: bigint, end: bigint): number {
    check('cuEventSynchronize', this.cu.cuEventSynchronize(end));
    const ms = [0];
    check('cuEventElapsedTime', this.cu.cuEventElapsedTime(ms, start, end));
    return ms[0];
  }
}
