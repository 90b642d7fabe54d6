import type { Graph } from '../ir/graph.ts';
import type { DecoderConfig, ModelDefinition } from '../models/define.ts';
import type { HostTensor } from './buffers.ts';
import { GraphExecutor } from './executor.ts';
import type { HostBackend } from './kernel.ts';
import { pickHostBackend, type HostBackendName } from './host-backends.ts';
import { withModelSource } from './model-source.ts';
import { resolveDevice, type DeviceChoice } from './cuda/device.ts';
import { loadCudaModel } from './cuda/model.ts';
import type { CudaPrecision } from '../codegen/cuda/types.ts';

/**
 * What the decode loop needs of a model's executor: one forward over the graph's inputs and
 * states (KV caches). The CPU's GraphExecutor and the GPU's CudaExecutor both provide it.
 */
export interface ForwardExecutor {
  /** `want` names the outputs to return (default all); an executor may skip reading back the rest. */
  run(inputs: Record<string, HostTensor>, states?: Record<string, HostTensor>, want?: readonly string[]): Record<string, HostTensor>;
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
   * the reason it cannot (this executor, this selection graph). `select` is the selection
   * step's IR (decode/select-graph.ts, source 'decisions'); `canvas` [batch, length] its start.
   */
  deviceDecodeStep?(select: Graph, canvas: Int32Array, batch: number, maskId: number): DeviceDecodeStep | string;
  dispose?(): void;
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
 * cuda-bf16). The name is historical: the decode loop on the host drives either.
 */
export interface HostModel {
  dir: string;
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
  executor: ForwardExecutor;
  backend: string;
  /** Where it runs and why that device was chosen (set by loadModelOn). */
  device?: DeviceChoice;
}

export type DeviceRequest = 'cpu' | 'cuda' | 'auto';

export interface LoadOptions {
  /** 'cpu' (default), 'cuda', or 'auto' (the GPU when the driver and NVRTC load, else the CPU). */
  device?: DeviceRequest;
  /** GPU arithmetic: 'f32' (default; the CPU's results) or 'bf16' (bf16 weights and activations, f32 accumulation). The CPU always runs f32. */
  precision?: CudaPrecision;
  /** CPU kernels: 'native' compiles generated C++; 'reference' interprets in TypeScript; 'auto' prefers native. */
  backend?: HostBackendName | HostBackend;
  /** Use this definition instead of looking config.json's model_type up in the registry. */
  definition?: ModelDefinition<any>;
}

/** Reads config.json, builds the model's graph with the DSL, fuses it, binds the weights on the CPU. */
export async function loadHostModel(dir: string, opts: LoadOptions = {}): Promise<HostModel> {
  return withModelSource(dir, opts.definition, async ({ definition, config, graph, weights }) => {
    const backend = typeof opts.backend === 'object' ? opts.backend : await pickHostBackend(opts.backend ?? 'auto');
    const executor = await GraphExecutor.create(graph, backend, weights);
    return { dir, definition, config, graph, executor, backend: backend.name, device: { device: 'cpu', reason: 'requested --device cpu' } };
  });
}

/**
 * Loads a model on the device `opts.device` names (default cpu). `auto` picks the GPU when one
 * is usable and records why it did or did not in `model.device.reason`; bf16 without a GPU is
 * refused rather than silently run in f32.
 */
export async function loadModelOn(dir: string, opts: LoadOptions = {}): Promise<HostModel> {
  const choice = resolveDevice(opts.device ?? 'cpu');
  if (choice.device === 'cuda') {
    // 'both': logits for the paths that need them (sampling, Dream's algs, forward), x0 and
    // confidence from the fused head for LLaDA's greedy steps, which then read back only those.
    const m = await loadCudaModel(dir, { precision: opts.precision ?? 'f32', definition: opts.definition, headOutputs: 'both' });
    return { ...m, device: choice };
  }
  if (opts.precision === 'bf16') {
    throw new Error(`--precision bf16 needs a GPU, but the model runs on the CPU (${choice.reason}); the CPU runs f32 only`);
  }
  const m = await loadHostModel(dir, opts);
  return { ...m, device: choice };
}
