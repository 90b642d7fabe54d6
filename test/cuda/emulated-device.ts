import koffi from 'koffi';
import type { GemmDesc } from '../../src/codegen/cuda/gemm.ts';
import type { CudaKernel, DeviceDType } from '../../src/codegen/cuda/types.ts';
import type { ElementwiseOp } from '../../src/ir/ops.ts';
import type { ParamBlock } from '../../src/runtime/ffi/cuda-driver.ts';
import type { CudaContext, DeviceInfo } from '../../src/runtime/cuda/context.ts';
import { ruleOfDeviceArgs, selectIndices } from '../../src/ir/select-rule.ts';
import { bf16BitsToF32, f32ToBf16Bits } from '../../src/util/half.ts';

/**
 * A CPU stand-in for CudaContext: device memory is host memory behind fake addresses, and each
 * launch runs a TypeScript model of the kernel family, written from the CUDA templates' index
 * maps (packed RoPE pairs, interleaved SwiGLU, cache rows, head partials) and numerics (A
 * rounded to bf16 in the tensor-core core, outputs rounded by their storage). Driving the real
 * CudaExecutor through it checks, without a GPU, everything around the kernels: plan, packing,
 * launch parameters, buffer planning, states, outputs.
 */
export class EmulatedDevice {
  readonly info: DeviceInfo;
  private readonly mem = new Map<bigint, Uint8Array>();
  private next = 0x7f0000000000n;
  private readonly kernels = new Map<string, CudaKernel>();
  launches = 0;
  /** Launches outside a CUDA graph (run at once, not captured). */
  directLaunches = 0;
  /** Device-to-host copies (tests count a decode step's reads). */
  downloads = 0;

  constructor(cc = 90) {
    this.info = { ordinal: 0, name: 'emulated', major: Math.floor(cc / 10), minor: cc % 10, arch: `sm_${cc}`, multiprocessors: 132, totalBytes: 2 ** 34, l2Bytes: 0, sharedOptinBytes: 0, peakBandwidthGBs: 0, driverVersion: 'emulated', driverPath: '' };
  }

  /** The context the executor takes (`createCudaExecutor(..., { context })`). */
  get context(): CudaContext {
    return this as unknown as CudaContext;
  }

  /** Makes a plan's kernels, forward and decode step, launchable. */
  registerPlan(plan: { kernels: readonly CudaKernel[]; stepKernels: readonly CudaKernel[] }): void {
    this.register([...plan.kernels, ...plan.stepKernels]);
  }

  /** Makes kernels launchable (by name). */
  register(kernels: readonly CudaKernel[]): void {
    for (const k of kernels) this.kernels.set(k.name, k);
  }

  alloc(bytes: number): bigint {
    const p = this.next;
    this.next += BigInt(Math.ceil(Math.max(1, bytes) / 4096) * 4096 + 4096);
    this.mem.set(p, new Uint8Array(Math.max(1, bytes)));
    return p;
  }
  free(p: bigint): void {
    if (p && !this.mem.delete(p)) throw new Error(`emulated cuMemFree of unknown address ${p}`);
  }
  private bytes(p: bigint): Uint8Array {
    const b = this.mem.get(p);
    if (!b) throw new Error(`emulated device: address ${p} was not allocated (or was freed)`);
    return b;
  }
  /** Uploaded bytes, all told (loader tests count them). */
  uploadedBytes = 0;
  upload(dst: bigint, src: ArrayBufferView): void {
    // A weight streams in chunks: an address inside an allocation is its base plus an offset.
    const [base, at] = this.mem.has(dst) ? [dst, 0] : this.containing(dst);
    this.bytes(base).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), at);
    this.uploadedBytes += src.byteLength;
  }
  private containing(p: bigint): [bigint, number] {
    for (const [base, b] of this.mem) if (p > base && p < base + BigInt(b.length)) return [base, Number(p - base)];
    throw new Error(`emulated device: address ${p} is in no allocation`);
  }
  download(dst: ArrayBufferView, src: bigint): void {
    this.downloads++;
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(this.bytes(src).subarray(0, dst.byteLength));
  }
  zero(p: bigint, n: number): void { this.bytes(p).fill(0, 0, n); }
  copy(dst: bigint, src: bigint, n: number): void { this.bytes(dst).set(this.bytes(src).subarray(0, n)); }
  fill32(p: bigint, word: number, count: number): void { new Uint32Array(this.bytes(p).buffer, 0, count).fill(word >>> 0); }
  loadModule(): bigint { return 1n; }
  getFunction(): bigint { return 1n; }
  functionAttributes() { return { registers: 0, localBytes: 0, sharedBytes: 0, maxThreadsPerBlock: 1024 }; }
  synchronize(): void {}
  createEvent(): bigint { return 1n; }
  record(): void {}
  /** Time between two events: `cost` of the kernel launched last (tests model timings), else 0. */
  cost: ((kernelName: string) => number) | null = null;
  private lastLaunched = '';
  elapsed(): number { return this.cost ? this.cost(this.lastLaunched) : 0; }

  /** Writes back, rounded to bf16, the decoded copies of bf16 buffers a launch used. */
  private flushes: (() => void)[] = [];
  private decoded = new Map<bigint, Float32Array>();

  private view(p: bigint, d: DeviceDType): ArrayLike<number> & { [i: number]: number } {
    const b = this.bytes(p);
    switch (d) {
      case 'f32': return new Float32Array(b.buffer, 0, b.length >> 2);
      case 'bf16': {
        const have = this.decoded.get(p);
        if (have) return have;
        // Decoded to f32 for the launch; stores round to nearest even when it ends (untouched
        // elements survive exactly: bf16 -> f32 -> bf16 is the identity).
        const bits = new Uint16Array(b.buffer, 0, b.length >> 1);
        const f32 = new Float32Array(bits.length);
        const u = new Uint32Array(f32.buffer);
        for (let i = 0; i < bits.length; i++) u[i] = bits[i] << 16;
        this.flushes.push(() => { for (let i = 0; i < bits.length; i++) bits[i] = f32ToBf16Bits(f32[i]); });
        this.decoded.set(p, f32);
        return f32;
      }
      case 'i32': return new Int32Array(b.buffer, 0, b.length >> 2);
      case 'u8': return b;
      case 'f64': return new Float64Array(b.buffer, 0, b.length >> 3);
    }
  }

  /** Streams and graphs: a capture records each launch with its parameter values as they were. */
  private capturing: { k: CudaKernel; grid: readonly number[]; arg: (number | bigint)[] }[] | null = null;
  private readonly graphs = new Map<bigint, { k: CudaKernel; grid: readonly number[]; arg: (number | bigint)[] }[]>();
  private nextGraph = 1n;
  graphLaunches = 0;
  createStream(): bigint { return 2n; }
  beginCapture(): void {
    if (this.capturing) throw new Error('emulated: capture already in progress');
    this.capturing = [];
  }
  endCapture(): bigint {
    if (!this.capturing) throw new Error('emulated: no capture in progress');
    const id = this.nextGraph++;
    this.graphs.set(id, this.capturing);
    this.capturing = null;
    return id;
  }
  graphLaunch(exec: bigint): void {
    const seq = this.graphs.get(exec);
    if (!seq) throw new Error(`emulated: unknown graph ${exec}`);
    this.graphLaunches++;
    for (const l of seq) this.execute(l.k, l.grid, l.arg);
  }
  destroyGraph(exec: bigint): void {
    if (!this.graphs.delete(exec)) throw new Error(`emulated: destroying unknown graph ${exec}`);
  }

  launch(_fn: bigint, grid: readonly number[], _block: readonly number[], _smem: number, params: ParamBlock, _stream: unknown, name: string): void {
    const k = this.kernels.get(name);
    if (!k) throw new Error(`emulated launch of unregistered kernel ${name}`);
    this.lastLaunched = name;
    const n = k.params.length;
    const arg = k.params.map((p, i) => {
      const off = (n + i) * 8;
      if (p.k === 'int' || (p.k === 'step' && p.bits === 32)) return p.bits === 32 ? koffi.decode(params.address, off, 'int32_t') : Number(koffi.decode(params.address, off, 'int64_t'));
      return BigInt(koffi.decode(params.address, off, 'uint64_t'));
    });
    if (this.capturing) this.capturing.push({ k, grid: [...grid], arg });
    else {
      this.directLaunches++;
      this.execute(k, grid, arg);
    }
  }

  private execute(k: CudaKernel, grid: readonly number[], arg: (number | bigint)[]): void {
    this.launches++;
    const ptr = (i: number) => arg[i] as bigint;
    const int = (i: number) => arg[i] as number;
    const m = k.meta as any;
    try {
      this.run(k, m, grid, ptr, int);
    } finally {
      for (const f of this.flushes) f();
      this.flushes = [];
      this.decoded.clear();
    }
  }

  private run(k: CudaKernel, m: any, grid: readonly number[], ptr: (i: number) => bigint, int: (i: number) => number): void {
    switch (k.family) {
      case 'gemm': return this.gemm(m as GemmDesc & { tiles: number }, ptr, int, (m.cfg.splitK ?? 1) > 1 ? 'partial' : 'full');
      case 'gemm_reduce': return this.gemm(m as GemmDesc & { tiles: number }, ptr, int, 'reduce');
      case 'head_select': return this.headSelect(ptr(0), int(1), int(2), ptr(3), ptr(4));
      case 'decode_window': {
        const canvas = this.view(ptr(0), 'i32'), ids = this.view(ptr(1), 'i32');
        const [L, T, a] = [int(2), int(3), int(4)];
        for (let b = 0; b < grid[1]; b++) for (let i = 0; i < T; i++) ids[b * T + i] = canvas[b * L + a + i];
        return;
      }
      case 'select_scatter': return this.selectScatter(ptr, int);
      case 'attention': return this.attention(m, ptr, int);
      case 'embed': {
        const t = this.view(ptr(0), m.table), ids = this.view(ptr(1), 'i32'), out = this.view(ptr(2), 'f32');
        for (let r = 0; r < int(3); r++) for (let e = 0; e < m.width; e++) out[r * m.width + e] = t[ids[r] * m.width + e];
        return;
      }
      case 'rmsnorm': {
        const x = this.view(ptr(0), m.in), w = this.view(ptr(1), 'f32'), out = this.view(ptr(2), m.out);
        for (let r = 0; r < int(3); r++) {
          let ss = 0;
          for (let e = 0; e < m.width; e++) ss += x[r * m.width + e] ** 2;
          const rs = f(1 / Math.sqrt(f(f(ss) / m.width) + f(m.eps)));
          for (let e = 0; e < m.width; e++) out[r * m.width + e] = f(f(x[r * m.width + e] * rs) * w[e]);
        }
        return;
      }
      case 'elementwise': {
        const a = this.view(ptr(0), m.in), b = ptr(1) ? this.view(ptr(1), m.in) : a, out = this.view(ptr(2), m.out);
        const op = EMULATED_ELEMENTWISE[m.op as ElementwiseOp];
        for (let i = 0; i < int(3); i++) out[i] = op(a[i], b[i]);
        return;
      }
      case 'copy_rows': {
        const x = this.view(ptr(0), m.in), rows = ptr(1) ? this.view(ptr(1), 'i32') : null, out = this.view(ptr(2), m.out);
        const [T, R, Kmax, start] = [int(3), int(4), int(5), int(6)];
        for (let b = 0; b < grid[1]; b++) for (let r = 0; r < grid[0]; r++) {
          const [src, dst] = m.mode === 'gather' ? [b * T + rows![b * R + r], b * R + r] : m.mode === 'shift' ? [b * T + Math.max(r - 1, 0), b * T + r] : [b * T + r, b * Kmax + start + r];
          for (let e = 0; e < m.width; e++) out[dst * m.width + e] = x[src * m.width + e];
        }
        return;
      }
      case 'repeat_kv': {
        const x = this.view(ptr(0), m.in), out = this.view(ptr(1), m.out);
        const W = m.kvHeads * m.repeats * m.headDim;
        for (let r = 0; r < int(2); r++) for (let e = 0; e < W; e++) {
          const h = Math.floor(e / m.headDim);
          out[r * W + e] = x[(r * m.kvHeads + Math.floor(h / m.repeats)) * m.headDim + (e % m.headDim)];
        }
        return;
      }
      case 'rope': {
        const x = this.view(ptr(0), m.in), pos = this.view(ptr(1), 'i32'), table = this.view(ptr(2), 'f32'), out = this.view(ptr(3), m.out);
        const half = m.headDim / 2;
        for (let r = 0; r < int(4); r++) for (let h = 0; h < m.heads; h++) for (let i = 0; i < half; i++) {
          const c = table[(pos[r] * half + i) * 2], s = table[(pos[r] * half + i) * 2 + 1];
          const o = r * m.heads * m.headDim + h * m.headDim + i, u = x[o], v = x[o + half];
          out[o] = u * c - v * s;
          out[o + half] = v * c + u * s;
        }
        return;
      }
      case 'host':
        throw new Error(`emulated device: host kernel ${k.name} launched on the device`);
      default: {
        // Exhaustive over KernelFamily: a new family is a type error here until it has a model.
        const unmodelled: never = k.family;
        throw new Error(`emulated device: no model of family ${unmodelled}`);
      }
    }
  }

  /**
   * fd_gemm.cuh: `pass` 'full' is the one-kernel GEMM; with split-K, 'partial' leaves each
   * split's raw sums and sums of squares in the scratch (ptr 11) and 'reduce' adds them in split
   * order, then runs the same epilogue.
   */
  private gemm(d: GemmDesc & { tiles: number }, ptr: (i: number) => bigint, int: (i: number) => number, pass: 'full' | 'partial' | 'reduce' = 'full'): void {
    const [M, T, R, Kmax, start] = [int(12), int(13), int(14), int(15), int(16)];
    const X = this.view(ptr(0), d.a), W = this.view(ptr(3), d.precision);
    const rows = ptr(1) ? this.view(ptr(1), 'i32') : null, normw = ptr(2) ? this.view(ptr(2), 'f32') : null;
    const bias = ptr(4) ? this.view(ptr(4), 'f32') : null, res = ptr(5) ? this.view(ptr(5), 'f32') : null;
    const pos = ptr(9) ? this.view(ptr(9), 'i32') : null, table = ptr(10) ? this.view(ptr(10), 'f32') : null;
    const { n: N, k: K } = d;
    const split = pass === 'full' ? 1 : d.cfg.splitK ?? 1;
    const scratch = pass === 'full' ? null : this.view(ptr(11), 'f32');
    const a = new Float64Array(K);
    const vals = new Float32Array(N);
    for (let m = 0; m < M; m++) {
      let rs = 1;
      if (pass === 'reduce') {
        let ss = 0;
        for (let n = 0; n < N; n++) {
          let v = 0;
          for (let z = 0; z < split; z++) v = f(v + scratch![(z * M + m) * N + n]);
          vals[n] = v;
        }
        for (let z = 0; z < split; z++) ss = f(ss + scratch![split * M * N + z * M + m]);
        if (d.norm) rs = f(1 / Math.sqrt(f(ss / K) + f(d.norm.eps)));
      } else {
        const src = d.gather ? Math.floor(m / R) * T + rows![m] : m;
        for (let k = 0; k < K; k++) {
          const x = X[src * K + k];
          let v = normw ? f(x * normw[k]) : x;
          if (d.cfg.core === 'mma') v = bf(v);
          a[k] = v;
        }
        const kz = K / split;
        for (let z = 0; z < split; z++) {
          let ss = 0;
          for (let k = z * kz; k < (z + 1) * kz; k++) ss = f(ss + f(X[src * K + k] * X[src * K + k]));
          for (let n = 0; n < N; n++) {
            let acc = 0;
            for (let k = z * kz; k < (z + 1) * kz; k++) acc += a[k] * W[n * K + k];
            if (pass === 'partial') scratch![(z * M + m) * N + n] = acc;
            else vals[n] = f(acc);
          }
          if (pass === 'partial') scratch![split * M * N + z * M + m] = ss;
          else if (d.norm) rs = f(1 / Math.sqrt(f(ss / K) + f(d.norm.eps)));
        }
        if (pass === 'partial') continue;
      }
      for (let n = 0; n < N; n++) {
        let v = f(vals[n] * rs);
        if (bias) v = f(v + bias[n]);
        vals[n] = v;
      }
      for (let n = 0; n < N; n += 2) {
        const has1 = n + 1 < N;
        let v0 = vals[n], v1 = has1 ? vals[n + 1] : 0;
        if (d.epi.kind === 'glu') {
          this.view(ptr(6), d.epi.out)[m * (N / 2) + n / 2] = f(silu(v0) * v1);
          continue;
        }
        if (res) { v0 = f(v0 + res[m * N + n]); if (has1) v1 = f(v1 + res[m * N + n + 1]); }
        vals[n] = v0;
        if (has1) vals[n + 1] = v1;
        if (d.epi.kind === 'head' && !d.epi.writeLogits) continue;
        const segs = d.epi.kind === 'seg' ? d.epi.segs : [{ width: N, rope: null, cache: false, out: 'f32' as DeviceDType }];
        let base = 0, si = 0;
        while (n >= base + segs[si].width) base += segs[si++].width;
        const g = segs[si], l = n - base, out = this.view(ptr(6 + si), g.out);
        const row = g.cache ? Math.floor(m / T) * Kmax + start + (m % T) : m;
        if (g.rope) {
          const hd = g.rope.headDim, h = Math.floor(l / hd), i = (l % hd) >> 1;
          const c = table![(pos![m] * (hd / 2) + i) * 2], s = table![(pos![m] * (hd / 2) + i) * 2 + 1];
          out[row * g.width + h * hd + i] = v0 * c - v1 * s;
          out[row * g.width + h * hd + i + hd / 2] = v1 * c + v0 * s;
        } else {
          out[row * g.width + l] = v0;
          if (has1) out[row * g.width + l + 1] = v1;
        }
      }
      if (d.epi.kind === 'head') {
        const st = this.bytes(ptr(11));
        const dv = new DataView(st.buffer);
        for (let t = 0; t < d.tiles; t++) {
          let best = -Infinity, bi = 0x7fffffff, s = 0;
          for (let n = t * 64; n < Math.min(N, t * 64 + 64); n++) if (vals[n] > best) { best = vals[n]; bi = n; }
          for (let n = t * 64; n < Math.min(N, t * 64 + 64); n++) s += Math.exp(vals[n] - best);
          const o = (m * d.tiles + t) * 16;
          dv.setFloat32(o, best, true);
          dv.setInt32(o + 4, bi, true);
          dv.setFloat64(o + 8, s, true);
        }
      }
    }
  }

  private headSelect(stats: bigint, tiles: number, M: number, x0p: bigint, confp: bigint): void {
    const dv = new DataView(this.bytes(stats).buffer);
    const x0 = this.view(x0p, 'i32'), conf = this.view(confp, 'f64');
    for (let m = 0; m < M; m++) {
      let best = -Infinity, bi = 0x7fffffff;
      for (let t = 0; t < tiles; t++) {
        const o = (m * tiles + t) * 16, v = dv.getFloat32(o, true), i = dv.getInt32(o + 4, true);
        if (v > best || (v === best && i < bi)) { best = v; bi = i; }
      }
      let s = 0;
      for (let t = 0; t < tiles; t++) { const o = (m * tiles + t) * 16; s += dv.getFloat64(o + 8, true) * Math.exp(dv.getFloat32(o, true) - best); }
      x0[m] = bi;
      conf[m] = 1 / s;
    }
  }

  /**
   * select_scatter (fd_decode.cuh) by the one selection rule (ir/select-rule.ts): the rule its
   * (mode, param) arguments stand for, applied to each row's confidences with non-candidates at
   * -inf; writes the canvas and the record (choices in head-row order, then the masks left in [lo, hi)).
   */
  private selectScatter(ptr: (i: number) => bigint, int: (i: number) => number): void {
    const x0 = this.view(ptr(0), 'i32'), conf = this.view(ptr(1), 'f64'), args = this.bytes(ptr(2)), canvas = this.view(ptr(3), 'i32');
    const [B, R, L, mode, maskId] = [5, 6, 7, 8, 9].map(int);
    const av = new DataView(args.buffer), lo = av.getInt32(8, true), hi = av.getInt32(12, true);
    const rule = ruleOfDeviceArgs(mode, av.getFloat64(0, true));
    const rec = new DataView(this.bytes(ptr(4)).buffer);
    for (let b = 0; b < B; b++) {
      const cand = (i: number) => av.getInt32(16 + 4 * B + 4 * (b * R + i), true);
      const row = Float64Array.from({ length: R }, (_, i) => (cand(i) >= 0 ? conf[b * R + i] : -Infinity));
      const chosen = selectIndices(rule, row, av.getInt32(16 + 4 * b, true));
      chosen.forEach((i, n) => {
        canvas[b * L + cand(i)] = x0[b * R + i];
        rec.setFloat64(8 * (b * R + n), conf[b * R + i], true);
        rec.setInt32(8 * B * R + 4 * (b * R + n), cand(i), true);
        rec.setInt32(12 * B * R + 4 * (b * R + n), x0[b * R + i], true);
      });
      let masks = 0;
      for (let p = lo; p < hi; p++) if (canvas[b * L + p] === maskId) masks++;
      rec.setInt32(16 * B * R + 8 * b, chosen.length, true);
      rec.setInt32(16 * B * R + 8 * b + 4, masks, true);
    }
  }

  private attention(d: { heads: number; kvHeads: number; headDim: number; scale: number; q: DeviceDType; cache: DeviceDType; out: DeviceDType }, ptr: (i: number) => bigint, int: (i: number) => number): void {
    const q = this.view(ptr(0), d.q), kc = this.view(ptr(1), d.cache), vc = this.view(ptr(2), d.cache), mask = this.view(ptr(3), 'u8'), out = this.view(ptr(4), d.out);
    const [B, T, K, Kmax] = [int(5), int(6), int(7), int(8)];
    const { heads: H, kvHeads: KV, headDim: hd } = d, rg = H / KV, sc = f(d.scale);
    const s = new Float64Array(K), acc = new Float64Array(hd);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / rg), qo = ((b * T + t) * H + h) * hd;
      let mx = -Infinity;
      for (let j = 0; j < K; j++) {
        if (!mask[b * K + j]) { s[j] = -Infinity; continue; }
        let dot = 0;
        for (let e = 0; e < hd; e++) dot += q[qo + e] * kc[((b * Kmax + j) * KV + kh) * hd + e];
        s[j] = f(f(dot) * sc);
        mx = Math.max(mx, s[j]);
      }
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j < K; j++) {
        if (s[j] === -Infinity) continue;
        const p = Math.exp(s[j] - mx);
        sum += p;
        for (let e = 0; e < hd; e++) acc[e] += p * vc[((b * Kmax + j) * KV + kh) * hd + e];
      }
      for (let e = 0; e < hd; e++) out[qo + e] = sum > 0 ? acc[e] / sum : 0;
    }
  }
}

const f = Math.fround;
const silu = (x: number) => x / (1 + Math.exp(-x));

/** The elementwise family's op (small-kernels.ts CUDA_ELEMENTWISE) per ElementwiseOp; b is a again for unary ops. */
export const EMULATED_ELEMENTWISE: Record<ElementwiseOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  mul: (a, b) => a * b,
  silu: (a) => silu(a),
  silu_mul: (a, b) => silu(a) * b,
  gelu: (a) => 0.5 * a * (1 + Math.tanh(0.7978845608028654 * (a + 0.044715 * a * a * a))),
};
/** One value rounded to bf16 (nearest even, NaN kept), as fd::f2bf then back to f32. */
const bf = (x: number) => bf16BitsToF32(f32ToBf16Bits(x));

