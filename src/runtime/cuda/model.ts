import type { ModelDefinition } from '../../models/define.ts';
import type { LoadedModel } from '../loaded-model.ts';
import { withModelSource, type PrecisionChoice } from '../model-source.ts';
import { createCudaExecutor, type CudaExecutor, type CudaExecutorOptions } from './executor.ts';

/** A model whose forward runs on the GPU; a LoadedModel, so src/decode drives it unchanged. */
export interface CudaModel extends LoadedModel {
  executor: CudaExecutor;
  /** The precision it runs in and why: asked for, or the checkpoint's dtype (checkpointPrecision). */
  precision: PrecisionChoice;
}

/**
 * loadHostModel's twin for the GPU: the same fused graph and weight checks, then plans and
 * compiles its CUDA kernels and streams the weights to the device from the checkpoint in their
 * stored dtype (bf16 precision rounds f32 ones; no f32 copy of a bf16 model is made). Without
 * `precision` the checkpoint's dtype decides: bf16 weights run in bf16, f32 (or f16) in f32.
 * `backend` reads 'cuda-f32' or 'cuda-bf16'.
 */
export async function loadCudaModel(dir: string, opts: CudaExecutorOptions & { definition?: ModelDefinition<any> } = {}): Promise<CudaModel> {
  return withModelSource(dir, opts.definition, async ({ definition, config, graph, weights, reader, stored }) => {
    const precision: PrecisionChoice = opts.precision ? { precision: opts.precision, reason: `${opts.precision}: asked for` } : stored();
    const executor = await createCudaExecutor(graph, weights, { reader, ...opts, precision: precision.precision });
    return { dir, definition, config, graph, executor, backend: `cuda-${executor.plan.precision}`, precision };
  });
}
