import { selectScatterArgs, type SelectScatterArgs } from '../../codegen/cuda/step-kernels.ts';
import type { SelectionRule } from '../../ir/select-rule.ts';
import type { HostTensor } from '../buffers.ts';
import type { DeviceDecodeStep, DeviceStepRecord } from '../loaded-model.ts';
import type { CudaContext } from './context.ts';
import type { LoadedKernel, StepForward } from './launch.ts';
import { DeviceBuffer } from './memory.ts';

/**
 * A greedy LLaDA step with the canvas on the GPU (DeviceDecodeStep): decode_window copies the
 * forward's window ids out of the canvas, the executor runs the forward with those ids (only
 * positions, key mask and head rows are uploaded), select_scatter selects from the head's x0 and
 * confidence by the step's rule and writes into the canvas, and one download brings back the
 * step's record.
 */
export class CudaDecodeStep implements DeviceDecodeStep {
  private readonly canvas: DeviceBuffer;
  private readonly ids: DeviceBuffer;
  private readonly args: DeviceBuffer;
  private readonly record: DeviceBuffer;
  private readonly rule: SelectScatterArgs;

  constructor(
    private readonly ctx: CudaContext,
    private readonly exec: StepForward,
    private readonly window: LoadedKernel,
    private readonly select: LoadedKernel,
    rule: SelectionRule,
    readonly batch: number,
    readonly length: number,
    private readonly maskId: number,
    canvas: Int32Array,
  ) {
    if (canvas.length !== batch * length) throw new Error(`device step: canvas has ${canvas.length} ids, expected ${batch} x ${length}`);
    this.rule = selectScatterArgs(rule);
    this.canvas = new DeviceBuffer(ctx, 'decode canvas');
    this.ids = new DeviceBuffer(ctx, 'window ids');
    this.args = new DeviceBuffer(ctx, 'step arguments');
    this.record = new DeviceBuffer(ctx, 'step record');
    this.canvas.ensure(canvas.byteLength);
    ctx.upload(this.canvas.ptr, canvas);
  }

  step(inputs: Record<string, HostTensor>, states: Record<string, HostTensor>, candidates: Int32Array, k: Int32Array, [lo, hi]: [number, number]): DeviceStepRecord {
    const B = this.batch, L = this.length;
    const ids = inputs.ids, start = inputs.start;
    if (!ids || ids.shape.length !== 2 || ids.shape[0] !== B) throw new Error(`device step: input 'ids' must be [${B}, T]`);
    if (!start || start.data.length !== 1) throw new Error("device step: input 'start' must be a scalar");
    const T = ids.shape[1], a = Number(start.data[0]);
    if (a < 0 || a + T > L) throw new Error(`device step: window [${a}, ${a + T}) is outside the canvas of ${L}`);
    if (candidates.length % B !== 0 || k.length !== B) throw new Error(`device step: ${candidates.length} candidates or ${k.length} counts do not fit batch ${B}`);
    if (lo < 0 || hi > L || lo > hi) throw new Error(`device step: count range [${lo}, ${hi}) is outside the canvas of ${L}`);
    const R = candidates.length / B;

    this.ids.ensure(B * T * 4);
    const w = this.window.params;
    w.setPtr(0, this.canvas.ptr);
    w.setPtr(1, this.ids.ptr);
    w.setI32(2, L);
    w.setI32(3, T);
    w.setI32(4, a);

    // One upload: param (f64) | lo, hi | k [B] | candidates [B, R]; see fd_decode.cuh.
    const args = new Uint8Array(16 + 4 * B + 4 * B * R);
    const dv = new DataView(args.buffer);
    dv.setFloat64(0, this.rule.param, true);
    dv.setInt32(8, lo, true);
    dv.setInt32(12, hi, true);
    new Int32Array(args.buffer, 16, B).set(k);
    new Int32Array(args.buffer, 16 + 4 * B, B * R).set(candidates);
    this.args.ensure(args.byteLength);
    this.ctx.upload(this.args.ptr, args);
    const recordBytes = 16 * B * R + 8 * B;
    this.record.ensure(recordBytes);

    // The head's x0 / confidence buffers are sized by the run; make sure they exist at this size first.
    const heads = this.exec.decisionBuffers(R * B, true);
    const s = this.select.params;
    s.setPtr(0, heads.x0);
    s.setPtr(1, heads.confidence);
    s.setPtr(2, this.args.ptr);
    s.setPtr(3, this.canvas.ptr);
    s.setPtr(4, this.record.ptr);
    [B, R, L, this.rule.mode, this.maskId].forEach((v, i) => s.setI32(5 + i, v));
    // Window, forward and selection go out as one launch sequence (one CUDA graph when graphs are on).
    this.exec.run(inputs, states, [], {
      deviceInputs: { ids: this.ids.ptr }, sync: false,
      before: [{ lk: this.window, grid: [Math.ceil(T / 128), B, 1] }],
      after: [{ lk: this.select, grid: [B, 1, 1] }],
    });

    const rec = new Uint8Array(recordBytes);
    this.ctx.download(rec, this.record.ptr);
    const conf = new Float64Array(rec.buffer, 0, B * R);
    const pos = new Int32Array(rec.buffer, 8 * B * R, B * R), tok = new Int32Array(rec.buffer, 12 * B * R, B * R);
    const head = new Int32Array(rec.buffer, 16 * B * R, 2 * B);
    const rows = Array.from({ length: B }, (_, b) => {
      const n = head[2 * b];
      if (n < 0 || n > R) throw new Error(`device step: row ${b} reports ${n} selected of ${R} head rows`);
      const o = b * R;
      return { positions: Array.from(pos.subarray(o, o + n)), tokens: Array.from(tok.subarray(o, o + n)), confidences: Array.from(conf.subarray(o, o + n)) };
    });
    return { rows, masksLeft: Array.from({ length: B }, (_, b) => head[2 * b + 1]) };
  }

  readCanvas(): Int32Array {
    const out = new Int32Array(this.batch * this.length);
    this.ctx.download(out, this.canvas.ptr);
    return out;
  }

  dispose(): void {
    for (const b of [this.canvas, this.ids, this.args, this.record]) b.release();
  }
}
