import type { Graph } from '../ir/graph.ts';
import type { SelectionRule } from '../ir/select-rule.ts';
import type { DecoderConfig, ModelDefinition } from '../models/define.ts';
import type { HostTensor } from './buffers.ts';
import type { DeviceChoice } from './cuda/device.ts';

// The model interfaces, apart from the loaders and executors that implement them: decode/,
// the CPU and GPU executors and the loaders all import this module and it imports none of them,
// so no import circle runs through it (DESIGN.md, "Stores apart from their users").

/**
 * What the decode loop needs of a model's executor: one forward over the graph's inputs and
 * states (KV caches). The CPU's GraphExecutor and the GPU's CudaExecutor both provide it.
 */
export interface ForwardExecutor {
  /** `want` names the outputs to return (default all); an executor may skip reading back the rest. */
  run(inputs: Record<string, HostTensor>, states?: Record<string, HostTensor>, want?: readonly string[], opts?: ForwardRunOptions): Record<string, HostTensor>;
  /**
   * True when run() can return `x0` (argmax token) and `confidence` (its softmax probability,
   * f64) per head row, computed where the logits are, so a greedy decision needs no logits
   * read back (the GPU's fused head). The CPU returns logits only.
   */
  readonly headDecisions?: boolean;
  /**
   * True when the executor replays launch sequences it has seen (CUDA graphs): calls of equal
   * shapes are then cheaper, so the decode loop keeps the head-row count fixed within a block.
   */
  readonly replaysLaunches?: boolean;
  /**
   * A greedy decode step that runs whole on the device, over a canvas kept there (the GPU), or
   * the reason it cannot (this executor). `rule` is how the step chooses (ResolvedOptions.rule);
   * `canvas` [batch, length] its start.
   */
  deviceDecodeStep?(rule: SelectionRule, canvas: Int32Array, batch: number, maskId: number): DeviceDecodeStep | string;
  dispose?(): void;
}

/** How one run() hands its outputs back. */
export interface ForwardRunOptions {
  /**
   * The outputs may be views of memory the executor reuses: valid only until its next run with
   * this option (the decode engine reads a forward's logits before it runs the next, so no
   * forward allocates them anew). An executor may ignore it.
   */
  reuseOutputs?: boolean;
}

/** What one device step chose for one batch row, in head-row order. */
export interface DeviceRowChoice {
  positions: number[];
  tokens: number[];
  confidences: number[];
}

/** The step's one read-back: each row's choices and the masks left in its counted range. */
export interface DeviceStepRecord {
  rows: DeviceRowChoice[];
  masksLeft: number[];
}

/**
 * One greedy step on the device: the forward reads its window ids from the device canvas; the
 * head's x0 and confidence feed the selection, which writes the chosen tokens into the canvas;
 * the host reads back only the record.
 */
export interface DeviceDecodeStep {
  /**
   * `inputs`: the forward call's inputs (their `ids` give only the shape: the ids come from the
   * device canvas at `start`); `candidates` [batch * R]: the canvas position of each head row, or
   * -1 where it is no candidate; `k` [batch]: top-k counts; masks are counted in canvas [lo, hi).
   */
  step(inputs: Record<string, HostTensor>, states: Record<string, HostTensor>, candidates: Int32Array, k: Int32Array, count: [number, number]): DeviceStepRecord;
  /** The device canvas, [batch * length] (one read; checks and tests). */
  readCanvas(): Int32Array;
  dispose(): void;
}

/**
 * A model ready to run: its definition, config, fused forward graph and an executor holding
 * its weights, on the CPU (`backend` native or reference) or a GPU (`backend` cuda-f32 or
 * cuda-bf16). The decode loop on the host drives either.
 */
export interface LoadedModel {
  dir: string;
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
  executor: ForwardExecutor;
  backend: string;
  /** Where it runs and why that device was chosen (set by loadModelOn). */
  device?: DeviceChoice;
}
