import { join } from 'node:path';
import { fuse } from '../ir/passes/fuse.ts';
import type { Graph } from '../ir/graph.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../models/define.ts';
import { findModelDefinition } from '../models/registry.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { loadHfConfig } from '../io/config.ts';
import { CheckpointError } from '../io/errors.ts';
import { GraphExecutor } from './executor.ts';
import type { HostBackend } from './kernel.ts';
import { pickHostBackend, type HostBackendName } from './host-backends.ts';

/** A model ready to run on the host: its definition, config, fused forward graph and weights. */
export interface HostModel {
  dir: string;
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
  executor: GraphExecutor;
  backend: string;
}

export interface LoadOptions {
  /** 'native' compiles generated C++ kernels; 'reference' interprets in TypeScript; 'auto' prefers native. */
  backend?: HostBackendName | HostBackend;
  /** Use this definition instead of looking config.json's model_type up in the registry. */
  definition?: ModelDefinition<any>;
}

/** Reads config.json, builds the model's graph with the DSL, fuses it, binds the weights. */
export async function loadHostModel(dir: string, opts: LoadOptions = {}): Promise<HostModel> {
  const hf = loadHfConfig(dir);
  const file = join(dir, 'config.json');
  const definition = opts.definition ?? findModelDefinition(hf, file);
  const config = definition.fromHfConfig(hf, file);
  const ckpt = Checkpoint.open(dir);
  try {
    const graph = fuse(buildForwardGraph(definition, config, { hasWeight: (n) => ckpt.has(n) }));
    const backend = typeof opts.backend === 'object' ? opts.backend : await pickHostBackend(opts.backend ?? 'auto');
    const executor = await GraphExecutor.create(graph, backend, (name, shape) => {
      if (!ckpt.has(name)) throw new CheckpointError(`${dir}: tensor '${name}' missing from the checkpoint (needed by ${definition.architecture} with this config.json)`, dir, name);
      const info = ckpt.info(name);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new CheckpointError(`${info.file}: tensor '${name}' has shape [${info.shape}], config.json implies [${shape}]`, info.file, name);
      }
      return ckpt.readF32(name);
    });
    return { dir, definition, config, graph, executor, backend: backend.name };
  } finally {
    ckpt.close();
  }
}
