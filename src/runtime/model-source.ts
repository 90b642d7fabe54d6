import { Checkpoint } from '../io/checkpoint.ts';
import { CheckpointError } from '../io/errors.ts';
import type { Graph } from '../ir/graph.ts';
import { printGraph } from '../ir/printer.ts';
import { env, debugLog } from '../env.ts';
import type { DecoderConfig, ModelDefinition } from '../models/define.ts';
import { buildModelGraph, readModelConfig } from './config-graph.ts';
import type { WeightSource } from './executor.ts';
import { checkConfigAgainstCheckpoint } from './config-check.ts';

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
  const m = readModelConfig(dir, { definition });
  const { file, hf, definition: def, config } = m;
  const ckpt = Checkpoint.open(dir);
  try {
    checkConfigAgainstCheckpoint(def, config, hf, file, ckpt, dir);
    const { graph } = buildModelGraph(m, (n) => ckpt.has(n));
    // FASTDLLM_DEBUG=3, for both targets: the fused graph the CPU module or the CUDA plan is made from.
    if (env.debug >= 3) debugLog(3, `fused IR of ${dir}:\n${printGraph(graph)}`);
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
