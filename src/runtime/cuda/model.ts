import { join } from 'node:path';
import { Checkpoint } from '../../io/checkpoint.ts';
import { loadHfConfig } from '../../io/config.ts';
import { CheckpointError } from '../../io/errors.ts';
import { fuse } from '../../ir/passes/fuse.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../../models/define.ts';
import { findModelDefinition } from '../../models/registry.ts';
import type { HostModel } from '../model.ts';
import { createCudaExecutor, type CudaExecutor, type CudaExecutorOptions } from './executor.ts';

/** A model whose forward runs on the GPU; shaped like HostModel so src/decode drives it unchanged. */
export interface CudaModel extends Omit<HostModel, 'executor'> {
  executor: CudaExecutor;
}

/**
 * loadHostModel's twin for the GPU: reads config.json, builds and fuses the graph with the DSL,
 * plans and compiles its CUDA kernels, uploads the checkpoint's weights (bf16 precision rounds
 * them). `backend` reads 'cuda-f32' or 'cuda-bf16'.
 */
export async function loadCudaModel(dir: string, opts: CudaExecutorOptions & { definition?: ModelDefinition<any> } = {}): Promise<CudaModel> {
  const hf = loadHfConfig(dir);
  const file = join(dir, 'config.json');
  const definition: ModelDefinition<DecoderConfig> = opts.definition ?? findModelDefinition(hf, file);
  const config = definition.fromHfConfig(hf, file);
  const ckpt = Checkpoint.open(dir);
  try {
    const graph = fuse(buildForwardGraph(definition, config, { hasWeight: (n) => ckpt.has(n) }));
    const executor = await createCudaExecutor(graph, (name, shape) => {
      if (!ckpt.has(name)) throw new CheckpointError(`${dir}: tensor '${name}' missing from the checkpoint (needed by ${definition.architecture} with this config.json)`, dir, name);
      const info = ckpt.info(name);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new CheckpointError(`${info.file}: tensor '${name}' has shape [${info.shape}], config.json implies [${shape}]`, info.file, name);
      }
      return ckpt.readF32(name);
    }, opts);
    return { dir, definition, config, graph, executor, backend: `cuda-${executor.plan.precision}` };
  } finally {
    ckpt.close();
  }
}

/** A CudaModel typed as a HostModel, for APIs that take one (decodeIds, runForward). */
export const asHostModel = (m: CudaModel): HostModel => m as unknown as HostModel;
