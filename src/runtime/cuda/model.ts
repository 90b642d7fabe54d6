import type { ModelDefinition } from '../../models/define.ts';
import type { LoadedModel } from '../loaded-model.ts';
import { withModelSource } from '../model-source.ts';
import { createCudaExecutor, type CudaExecutor, type CudaExecutorOptions } from './executor.ts';

/** A model whose forward runs on the GPU; a LoadedModel, so src/decode drives it unchanged. */
export interface CudaModel extends LoadedModel {
  executor: CudaExecutor;
}

/**
 * loadHostModel's twin for the GPU: the same fused graph and weight checks, then plans and
 * compiles its CUDA kernels and uploads the weights (bf16 precision rounds them). `backend`
 * reads 'cuda-f32' or 'cuda-bf16'.
 */
export async function loadCudaModel(dir: string, opts: CudaExecutorOptions & { definition?: ModelDefinition<any> } = {}): Promise<CudaModel> {
  return withModelSource(dir, opts.definition, async ({ definition, config, graph, weights }) => {
    const executor = await createCudaExecutor(graph, weights, opts);
    return { dir, definition, config, graph, executor, backend: `cuda-${executor.plan.precision}` };
  });
}
