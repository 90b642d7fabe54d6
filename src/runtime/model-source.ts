import { join } from 'node:path';
import { Checkpoint } from '../io/checkpoint.ts';
import { loadHfConfig } from '../io/config.ts';
import { CheckpointError } from '../io/errors.ts';
import { fuse } from '../ir/passes/fuse.ts';
import type { Graph } from '../ir/graph.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../models/define.ts';
import { findModelDefinition } from '../models/registry.ts';
import type { WeightSource } from './executor.ts';

/** What every device needs to build an executor: the model's fused graph and its weights by name. */
export interface ModelSource {
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
  /** Reads a weight as f32, checking it exists and has the shape the graph expects. */
  weights: WeightSource;
}

/**
 * Opens a checkpoint directory, builds the model's graph with the DSL and fuses it, then hands
 * it to `build` (the CPU or the CUDA executor) and closes the checkpoint, whatever happens.
 */
export async function withModelSource<T>(dir: string, definition: ModelDefinition<any> | undefined, build: (src: ModelSource) => Promise<T>): Promise<T> {
  const hf = loadHfConfig(dir);
  const file = join(dir, 'config.json');
  const def: ModelDefinition<DecoderConfig> = definition ?? findModelDefinition(hf, file);
  const config = def.fromHfConfig(hf, file);
  const ckpt = Checkpoint.open(dir);
  try {
    const graph = fuse(buildForwardGraph(def, config, { hasWeight: (n) => ckpt.has(n) }));
    const weights: WeightSource = (name, shape) => {
      if (!ckpt.has(name)) throw new CheckpointError(`${dir}: tensor '${name}' missing from the checkpoint (needed by ${def.architecture} with this config.json)`, dir, name);
      const info = ckpt.info(name);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new CheckpointError(`${info.file}: tensor '${name}' has shape [${info.shape}], config.json implies [${shape}]`, info.file, name);
      }
      return ckpt.readF32(name);
    };
    return await build({ definition: def, config, graph, weights });
  } finally {
    ckpt.close();
  }
}
