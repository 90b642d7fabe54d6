import type { ModelDefinition } from '../models/define.ts';
import type { LoadedModel } from './loaded-model.ts';
import { GraphExecutor } from './executor.ts';
import type { HostBackend } from './kernel.ts';
import { pickHostBackend, type HostBackendName } from './host-backends.ts';
import { withModelSource } from './model-source.ts';
import { resolveDevice } from './cuda/device.ts';
import { loadCudaModel } from './cuda/model.ts';
import type { CudaPrecision } from '../codegen/cuda/types.ts';

export type DeviceRequest = 'cpu' | 'cuda' | 'auto';

export interface LoadOptions {
  /** 'cpu' (default), 'cuda', or 'auto' (the GPU when the driver and NVRTC load, else the CPU). */
  device?: DeviceRequest;
  /**
   * GPU arithmetic: 'f32' (the CPU's results) or 'bf16' (bf16 weights and activations, f32
   * accumulation). Default: the checkpoint's dtype (bf16 weights run bf16, f32 ones f32). The CPU always runs f32.
   */
  precision?: CudaPrecision;
  /** CPU kernels: 'native' compiles generated C++; 'reference' interprets in TypeScript; 'auto' prefers native. */
  backend?: HostBackendName | HostBackend;
  /** Use this definition instead of looking config.json's model_type up in the registry. */
  definition?: ModelDefinition<any>;
}

/** Reads config.json, builds the model's graph with the DSL, fuses it, binds the weights on the CPU. */
export async function loadHostModel(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  return withModelSource(dir, opts.definition, async ({ definition, config, graph, weights }) => {
    const backend = typeof opts.backend === 'object' ? opts.backend : await pickHostBackend(opts.backend ?? 'auto');
    const executor = await GraphExecutor.create(graph, backend, weights);
    return { dir, definition, config, graph, executor, backend: backend.name, device: { device: 'cpu', reason: 'requested --device cpu' } };
  });
}

/**
 * Loads a model on the device `opts.device` names (default cpu). `auto` picks the GPU when one
 * is usable and records why it did or did not in `model.device.reason`; bf16 without a GPU is
 * refused rather than silently run in f32. On the GPU the precision is the checkpoint's dtype unless
 * `opts.precision` names one (the reason says which).
 */
export async function loadModelOn(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const choice = resolveDevice(opts.device ?? 'cpu');
  if (choice.device === 'cuda') {
    // 'both': logits for the paths that need them (sampling, Dream's algs, forward), x0 and
    // confidence from the fused head for LLaDA's greedy steps, which then read back only those.
    const m = await loadCudaModel(dir, { precision: opts.precision, definition: opts.definition, headOutputs: 'both' });
    return { ...m, device: { ...choice, reason: `${choice.reason}; precision ${m.precision.reason}` } };
  }
  if (opts.precision === 'bf16') {
    throw new Error(`--precision bf16 needs a GPU, but the model runs on the CPU (${choice.reason}); the CPU runs f32 only`);
  }
  const m = await loadHostModel(dir, opts);
  return { ...m, device: choice };
}
