import { DEVICE_BYTES, type CudaPlan, type DeviceDType } from '../../codegen/cuda/types.ts';
import { numel } from '../../util/math.ts';
import type { HostTensor } from '../buffers.ts';
import type { CudaContext } from './context.ts';
import { DeviceBuffer, type SlotPlan } from './memory.ts';
import { evalInt, type DimResolver } from '../../codegen/cuda/types.ts';
import { fromBf16, ropeCosSin } from './weights.ts';

/** Quiet-NaN bits: a poisoned run fills its temporaries with them, so an element no kernel wrote shows. */
const NAN_BITS = 0x7fc00000;

/**
 * The device memory a CudaExecutor's runs bind, weights aside: inputs (uploaded per run, or
 * bound by address when already on the device), states (KV caches: allocated zeroed the first
 * time their host buffer is seen, never copied back, freed when the host buffer is collected),
 * temporaries (liveness slots, grown to each run's dims), scratch, the head's x0 and confidence,
 * and the RoPE cos / sin tables. Everything only grows, so steady-state decoding allocates nothing.
 */
export class RunBuffers {
  private readonly stateBufs = new WeakMap<object, { ptr: bigint; bytes: number }>();
  // A KV cache dropped by its host owner frees its device copy; dispose() unregisters first, so
  // an address freed there can never be freed again after the allocator hands it out anew.
  private readonly stateRegistry = new FinalizationRegistry<bigint>((ptr) => {
    if (!this.liveStates.delete(ptr)) return;
    try { this.ctx.free(ptr); } catch { /* context gone */ }
  });
  private readonly liveStates = new Map<bigint, object>();
  private readonly inputBufs = new Map<number, DeviceBuffer>();
  private readonly slots: DeviceBuffer[];
  private readonly temps: Set<number>;
  private readonly scratch = new Map<string, DeviceBuffer>();
  private readonly extras = { x0: null as DeviceBuffer | null, confidence: null as DeviceBuffer | null };
  /** RoPE cos / sin tables by (head dim, theta), grown to the largest position seen. */
  private readonly ropeTables = new Map<string, { buf: DeviceBuffer; count: number }>();

  constructor(private readonly ctx: CudaContext, private readonly plan: CudaPlan, private readonly slotPlan: SlotPlan) {
    this.slots = Array.from({ length: slotPlan.slotCount }, (_, i) => new DeviceBuffer(ctx, `temporary buffer ${i}`));
    this.temps = new Set(slotPlan.slotOf.keys());
  }

  /**
   * The device address of every input, state and temporary of one run (by value id): inputs
   * uploaded unless `deviceInputs` gives their address by name; temporaries in their slots,
   * grown to this run's shapes. Scratch and the head's decision buffers are grown too.
   */
  bind(host: Map<number, HostTensor>, d: DimResolver, deviceInputs?: Record<string, bigint>): Map<number, bigint> {
    const g = this.plan.graph;
    const ptrs = new Map<number, bigint>();
    for (const [id, t] of host) {
      const n = g.node(id);
      const name = (n.attrs as { name: string }).name;
      const onDevice = n.op === 'input' ? deviceInputs?.[name] : undefined;
      if (onDevice !== undefined) {
        ptrs.set(id, onDevice);
      } else if (n.op === 'input') {
        let b = this.inputBufs.get(id);
        if (!b) this.inputBufs.set(id, (b = new DeviceBuffer(this.ctx, `input '${name}'`)));
        b.ensure(t.data.byteLength);
        this.ctx.upload(b.ptr, t.data);
        ptrs.set(id, b.ptr);
      } else {
        ptrs.set(id, this.stateBuffer(t, this.plan.storage.get(id)!, name));
      }
    }
    const slotBytes = new Array<number>(this.slots.length).fill(0);
    for (const v of this.temps) {
      const s = this.slotPlan.slotOf.get(v)!;
      slotBytes[s] = Math.max(slotBytes[s], numel(d.shape(v)) * DEVICE_BYTES[this.plan.storage.get(v) ?? 'f32']);
    }
    this.slots.forEach((b, i) => b.ensure(slotBytes[i]));
    for (const v of this.temps) ptrs.set(v, this.slots[this.slotPlan.slotOf.get(v)!].ptr);
    for (const s of this.plan.scratch) {
      let b = this.scratch.get(s.name);
      if (!b) this.scratch.set(s.name, (b = new DeviceBuffer(this.ctx, `scratch '${s.name}'`)));
      b.ensure(evalInt(s.count, d) * s.elemBytes);
    }
    if (this.plan.headRowsOf !== undefined) this.decisionBuffers(numel(d.shape(this.plan.headRowsOf).slice(0, -1)), true);
    return ptrs;
  }

  /** Fills temporaries, scratch and the head's decisions with NaN (tests: an unwritten element shows). */
  poison(): void {
    for (const b of [...this.slots, ...this.scratch.values(), this.extras.x0, this.extras.confidence]) if (b?.bytes) this.ctx.fill32(b.ptr, NAN_BITS, b.bytes >> 2);
  }

  /** A scratch buffer's address (bound by bind()). */
  scratchPtr(name: string): bigint {
    const b = this.scratch.get(name);
    if (!b) throw new Error(`cuda run: scratch '${name}' was not sized`);
    return b.ptr;
  }

  /** The head's x0 or confidence buffer (bound by bind()). */
  extraPtr(name: 'x0' | 'confidence'): bigint {
    const b = this.extras[name];
    if (!b) throw new Error(`cuda run: no '${name}' buffer (headOutputs is '${this.plan.headOutputs}')`);
    return b.ptr;
  }

  /** The cos / sin table of (headDim, theta) covering `positions`, grown in steps of 1024 positions. */
  ropeTable(headDim: number, theta: number, positions: ArrayLike<number>): bigint {
    const key = `${headDim}:${theta}`;
    let maxPos = 0;
    for (let i = 0; i < positions.length; i++) if (positions[i] > maxPos) maxPos = positions[i];
    let t = this.ropeTables.get(key);
    if (!t) this.ropeTables.set(key, (t = { buf: new DeviceBuffer(this.ctx, `RoPE table hd ${headDim} theta ${theta}`), count: 0 }));
    if (maxPos >= t.count) {
      t.count = Math.ceil((maxPos + 1) / 1024) * 1024;
      const table = ropeCosSin(headDim, theta, t.count);
      t.buf.ensure(table.byteLength);
      this.ctx.upload(t.buf.ptr, table);
    }
    return t.buf.ptr;
  }

  /**
   * Device addresses of the head's x0 and confidence (`rows` head rows): those of the last run,
   * or with `allocate` grown now to the size the next run will use (bind() grows them the same way).
   */
  decisionBuffers(rows: number, allocate = false): { x0: bigint; confidence: bigint } {
    if (allocate && this.plan.headRowsOf !== undefined) {
      (this.extras.x0 ??= new DeviceBuffer(this.ctx, 'x0')).ensure(rows * 4);
      (this.extras.confidence ??= new DeviceBuffer(this.ctx, 'confidence')).ensure(rows * 8);
    }
    const x0 = this.extras.x0, conf = this.extras.confidence;
    if (!x0 || !conf || x0.bytes < rows * 4 || conf.bytes < rows * 8) throw new Error(`cuda: no head decisions for ${rows} rows (headOutputs is '${this.plan.headOutputs}')`);
    return { x0: x0.ptr, confidence: conf.ptr };
  }

  /** A state's device contents as f32 (tests and debugging; the decode path never reads them back). */
  readState(t: HostTensor): Float32Array {
    const have = this.stateBufs.get(t.data);
    if (!have) throw new Error('readState: this state has not been used by the executor');
    if (have.bytes === t.data.length * 4) {
      const out = new Float32Array(t.data.length);
      this.ctx.download(out, have.ptr);
      return out;
    }
    const bits = new Uint16Array(t.data.length);
    this.ctx.download(bits, have.ptr);
    return fromBf16(bits);
  }

  /** Frees every buffer, states included. */
  dispose(): void {
    for (const b of [...this.inputBufs.values(), ...this.slots, ...this.scratch.values(), this.extras.x0, this.extras.confidence, ...[...this.ropeTables.values()].map((t) => t.buf)]) b?.release();
    for (const [p, token] of this.liveStates) {
      this.stateRegistry.unregister(token);
      this.ctx.free(p);
    }
    this.liveStates.clear();
  }

  /** A state's device buffer: allocated zeroed the first time its host buffer is seen. */
  private stateBuffer(t: HostTensor, dtype: DeviceDType, name: string): bigint {
    const bytes = t.data.length * DEVICE_BYTES[dtype];
    const have = this.stateBufs.get(t.data);
    if (have) {
      if (have.bytes !== bytes) throw new Error(`state '${name}': its host buffer was first seen with ${have.bytes} device bytes, now ${bytes}`);
      return have.ptr;
    }
    const ptr = this.ctx.alloc(bytes, `state '${name}' [${t.shape}]`);
    this.ctx.zero(ptr, bytes);
    this.stateBufs.set(t.data, { ptr, bytes });
    const token = {};
    this.liveStates.set(ptr, token);
    this.stateRegistry.register(t.data, ptr, token);
    return ptr;
  }
}
