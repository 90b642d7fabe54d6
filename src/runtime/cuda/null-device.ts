import type { CudaContext, DeviceInfo } from './context.ts';

/**
 * A device that keeps nothing: allocations are addresses, uploads are checked against their
 * allocation, counted and dropped. Loading a model onto it (`createCudaExecutor(..., { context:
 * new NullDevice().context, compile: false })`) runs the real GPU loader's host side (plan,
 * packing, streaming from the checkpoint) with no GPU and no device memory held on the host:
 * what the loader's memory test and bench/loader.bench.ts measure. It runs no kernels.
 */
export class NullDevice {
  readonly info: DeviceInfo;
  /** Bytes uploaded, all told, and the number of uploads. */
  uploadedBytes = 0;
  uploads = 0;
  /** Bytes allocated now, and the most at once. */
  allocatedBytes = 0;
  peakAllocatedBytes = 0;
  private readonly sizes = new Map<bigint, number>();
  private next = 0x7f0000000000n;

  constructor(cc = 90) {
    this.info = { ordinal: 0, name: 'null', major: Math.floor(cc / 10), minor: cc % 10, arch: `sm_${cc}`, multiprocessors: 132, totalBytes: 2 ** 40, l2Bytes: 0, sharedOptinBytes: 0, peakBandwidthGBs: 0, driverVersion: 'none', driverPath: '' };
  }

  /** The context the executor takes. */
  get context(): CudaContext {
    return this as unknown as CudaContext;
  }

  alloc(bytes: number): bigint {
    const p = this.next, n = Math.max(1, bytes);
    this.next += BigInt(Math.ceil(n / 4096) * 4096 + 4096);
    this.sizes.set(p, n);
    this.allocatedBytes += n;
    this.peakAllocatedBytes = Math.max(this.peakAllocatedBytes, this.allocatedBytes);
    return p;
  }

  free(p: bigint): void {
    const n = this.sizes.get(p);
    if (p && n === undefined) throw new Error(`null device: free of unknown address ${p}`);
    this.sizes.delete(p);
    this.allocatedBytes -= n ?? 0;
  }

  upload(dst: bigint, src: ArrayBufferView): void {
    this.check(dst, src.byteLength, 'upload');
    this.uploadedBytes += src.byteLength;
    this.uploads++;
  }

  download(dst: ArrayBufferView): void {
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).fill(0);
  }

  zero(p: bigint, n: number): void { this.check(p, n, 'memset'); }
  fill32(p: bigint, _w: number, count: number): void { this.check(p, 4 * count, 'memset'); }
  copy(): void {}
  synchronize(): void {}
  loadModule(): bigint { return 1n; }
  getFunction(): bigint { return 1n; }
  functionAttributes() { return { registers: 0, localBytes: 0, sharedBytes: 0, maxThreadsPerBlock: 1024 }; }
  createEvent(): bigint { return 1n; }
  record(): void {}
  elapsed(): number { return 0; }
  createStream(): bigint { return 2n; }
  launch(): void { throw new Error('null device: runs no kernels (it measures loading)'); }

  /** `bytes` from `p` must lie in one allocation. */
  private check(p: bigint, bytes: number, what: string): void {
    for (const [base, n] of this.sizes) if (p >= base && p + BigInt(bytes) <= base + BigInt(n)) return;
    throw new Error(`null device: ${what} of ${bytes} bytes at ${p} is outside every allocation`);
  }
}
