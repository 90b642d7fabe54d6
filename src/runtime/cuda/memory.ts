import type { CudaPlan } from '../../codegen/cuda/types.ts';
import { numel } from '../../util/math.ts';
import type { CudaContext } from './context.ts';
import { lastTouch } from '../liveness.ts';

/**
 * Temporaries share device buffers by liveness over the launch order: a value takes a slot
 * freed by a value whose last reader ran before it is written. Slots grow to the largest value
 * they have held and never shrink, so steady-state decoding allocates nothing.
 */
export class SlotPlan {
  /** Temporary value id -> slot index. */
  readonly slotOf = new Map<number, number>();
  readonly slotCount: number;

  constructor(plan: CudaPlan, isTemp: (id: number) => boolean) {
    const def = new Map<number, number>();
    plan.kernels.forEach((k, i) => {
      for (const v of k.writes) if (isTemp(v) && !def.has(v)) def.set(v, i);
    });
    const touched = plan.kernels.map((k) => [...k.params.flatMap((p) => (p.k === 'value' ? [p.id] : [])), ...k.reads, ...k.writes]);
    const last = lastTouch(touched, Object.values(plan.graph.outputs), isTemp);
    const order = [...def.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const holder: (number | null)[] = [];
    for (const [v, d] of order) {
      let s = holder.findIndex((h) => h === null || (last.get(h) ?? -1) < d);
      if (s < 0) s = holder.length;
      holder[s] = v;
      this.slotOf.set(v, s);
    }
    this.slotCount = holder.length;
  }
}

/** A growable device buffer. */
export class DeviceBuffer {
  ptr = 0n;
  bytes = 0;

  constructor(private readonly ctx: CudaContext, readonly what: string) {}

  /** Ensures room for `bytes`; contents are not preserved when it grows. */
  ensure(bytes: number): bigint {
    if (bytes > this.bytes) {
      this.release();
      this.ptr = this.ctx.alloc(bytes, this.what);
      this.bytes = bytes;
    }
    return this.ptr;
  }

  release(): void {
    if (this.ptr) this.ctx.free(this.ptr);
    this.ptr = 0n;
    this.bytes = 0;
  }
}
