import type { HostTensor } from './buffers.ts';
import { KvCache } from './kv-cache.ts';
import type { DeviceDecodeStep, DeviceStepRecord, LoadedModel } from './loaded-model.ts';

/** One forward call of the standard contract (see ForwardIO in models/define.ts). */
export interface ForwardCall {
  batch: number;
  /** Window token ids, [batch * T] row-major. */
  ids: Int32Array;
  /** Absolute positions of the window tokens, [batch * T]. */
  positions: Int32Array;
  /** Cache row where the window goes. */
  start: number;
  /** [batch * K]: 1 where a key row may be attended to; K = keys visible (cache rows [0, K)). */
  keyMask: Uint8Array;
  /** [batch * R]: window rows whose logits are wanted. */
  headRows: Int32Array;
}

function callInputs(call: ForwardCall): Record<string, HostTensor> {
  const { batch } = call;
  const t = call.ids.length / batch;
  return {
    ids: { data: call.ids, shape: [batch, t] },
    positions: { data: call.positions, shape: [batch, t] },
    start: { data: Int32Array.of(call.start), shape: [] },
    keyMask: { data: call.keyMask, shape: [batch, call.keyMask.length / batch] },
    headRows: { data: call.headRows, shape: [batch, call.headRows.length / batch] },
  };
}

/**
 * Runs the model's forward graph; returns logits [batch, R, vocab]. `reuse`: the logits may be
 * memory the executor hands out again at its next such run (ForwardRunOptions.reuseOutputs).
 */
export function runForward(model: LoadedModel, call: ForwardCall, cache: KvCache, reuse = false): HostTensor {
  return model.executor.run(callInputs(call), cache.states, ['logits'], { reuseOutputs: reuse }).logits;
}

/** Greedy decisions per head row, computed by the executor next to the logits ([batch * R] each). */
export interface HeadDecisions {
  x0: Int32Array;
  confidence: Float64Array;
}

/**
 * Runs the forward graph and returns only the argmax token and its softmax probability per head
 * row (see ForwardExecutor.headDecisions); the logits stay where they were computed.
 */
export function runForwardDecisions(model: LoadedModel, call: ForwardCall, cache: KvCache): HeadDecisions {
  if (!model.executor.headDecisions) throw new Error(`${model.backend}: this executor does not compute head decisions`);
  const out = model.executor.run(callInputs(call), cache.states, ['x0', 'confidence']);
  return { x0: out.x0.data as Int32Array, confidence: out.confidence.data as Float64Array };
}

/**
 * One greedy step whole on the device (see DeviceDecodeStep): the call's ids are taken from the
 * device canvas; only the step's record comes back.
 */
export function runDeviceStep(step: DeviceDecodeStep, call: ForwardCall, cache: KvCache, candidates: Int32Array, k: Int32Array, count: [number, number]): DeviceStepRecord {
  return step.step(callInputs(call), cache.states, candidates, k, count);
}

/** Checks token ids against the vocabulary, naming the offending id and where it is. */
export function checkTokenIds(ids: ArrayLike<number>, vocab: number, what = 'token ids'): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`${what}: id ${id} at index ${i} is outside the vocabulary [0, ${vocab})`);
  }
}

/** A plain full forward of equal-length rows: every position attends to every other, logits for all rows. */
export function forwardFull(model: LoadedModel, rows: number[][]): HostTensor {
  const batch = rows.length, t = rows[0]?.length ?? 0;
  if (batch === 0 || t === 0) throw new Error('forward: no tokens');
  if (rows.some((r) => r.length !== t)) throw new Error('forward: rows differ in length');
  const ids = Int32Array.from(rows.flat());
  checkTokenIds(ids, model.config.vocabSize);
  if (t > model.config.maxSeqLen) throw new RangeError(`forward: ${t} tokens exceed the model's maximum of ${model.config.maxSeqLen}`);
  const positions = new Int32Array(batch * t).map((_, i) => i % t);
  const cache = new KvCache(model.config, batch, t);
  return runForward(model, { batch, ids, positions, start: 0, keyMask: new Uint8Array(batch * t).fill(1), headRows: positions.slice() }, cache);
}
