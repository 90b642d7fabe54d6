import { loadHfConfig } from '../io/config.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, hasCheckpoint } from '../io/checkpoint.ts';
import { CheckpointError } from '../io/errors.ts';
import type { Graph } from '../ir/graph.ts';
import { printGraph } from '../ir/printer.ts';
import { env, debugLog } from '../env.ts';
import type { DecoderConfig, ModelDefinition } from '../models/define.ts';
import { buildModelGraph, readModelConfig } from './config-graph.ts';
import type { WeightSource } from './executor.ts';
import { checkConfigAgainstCheckpoint, checkedTensor, type ConfigFit } from './config-check.ts';
import { STORED_BYTES, type StoredFloat, type TensorReader } from './tensor-reader.ts';

/** The GPU precision a checkpoint runs in unless one is asked for, and why. */
export interface PrecisionChoice {
  precision: 'f32' | 'bf16';
  reason: string;
}

/** What every device needs to build an executor: the model's fused graph and its weights by name. */
export interface ModelSource {
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
  /** Reads a weight as f32, checking it exists and has the shape the graph expects (checkedTensor). */
  weights: WeightSource;
  /** The same weights in their stored dtype, row range by row range (what the GPU loader streams). */
  reader: TensorReader;
  /**
   * The precision the checkpoint's dtype implies (checkpointPrecision), worked out when called
   * (while the source is open): it reads every tensor's dtype, opening every shard, which only a
   * GPU load that was not told a precision needs (the CPU runs f32).
   */
  stored(): PrecisionChoice;
}

/**
 * The precision a GPU load of this model directory runs in by default: the checkpoint's, as
 * checkpointPrecision decides; bf16 for a directory without weights (a config alone, as
 * `inspect` and `tune` take one, describes the model as it is published: bf16). `shared` opens
 * (once) a checkpoint of `dir` that the caller reads again and closes itself, so it is opened
 * once; without it the checkpoint is opened here and closed.
 */
export function storedPrecision(dir: string, shared?: () => Checkpoint): 'f32' | 'bf16' {
  if (!existsSync(join(dir, 'config.json')) || !hasCheckpoint(dir)) return 'bf16';
  const ckpt = shared ? shared() : Checkpoint.open(dir);
  try {
    return checkpointPrecision(ckpt, loadHfConfig(dir)).precision; // the hf keys only: no definition lookup
  } finally {
    if (!shared) ckpt.close();
  }
}

/**
 * The GPU precision of a checkpoint by its dtype: bf16 when most of its floating-point bytes are
 * stored BF16 (the weights as trained and shipped: running them in bf16 loses nothing they had),
 * f32 when F32 or F16 (bf16 would round them). The tensors decide; config.json's torch_dtype
 * only when they do not (no floating-point bytes, or an even split).
 */
export function checkpointPrecision(ckpt: Checkpoint, hf: Record<string, unknown>): PrecisionChoice {
  const bytes = new Map<string, number>();
  for (const name of ckpt.names()) {
    const t = ckpt.info(name);
    if (t.dtype in STORED_BYTES) bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + (t.end - t.begin));
  }
  const ranked = [...bytes.entries()].sort((a, b) => b[1] - a[1]);
  if (ranked.length && (ranked.length === 1 || ranked[0][1] > ranked[1][1])) {
    const d = ranked[0][0];
    return { precision: d === 'BF16' ? 'bf16' : 'f32', reason: `${d === 'BF16' ? 'bf16' : 'f32'}: the checkpoint's weights are stored ${d}` };
  }
  const td = hf.torch_dtype;
  if (td === 'bfloat16') return { precision: 'bf16', reason: 'bf16: config.json\'s torch_dtype is bfloat16' };
  return { precision: 'f32', reason: `f32: the checkpoint's dtype (${typeof td === 'string' ? `torch_dtype ${td}` : 'no torch_dtype'}) is not bf16` };
}

/**
 * Opens a checkpoint directory, builds the model's graph with the DSL and fuses it, then hands
 * it to `build` (the CPU or the CUDA executor) and closes the checkpoint, whatever happens. The
 * graph is built once per load; the config check before it builds one- and two-layer probes
 * only, so that a config the checkpoint does not fit is refused before the full build.
 */
export async function withModelSource<T>(dir: string, definition: ModelDefinition<any> | undefined, build: (src: ModelSource) => Promise<T>): Promise<T> {
  const m = readModelConfig(dir, { definition });
  const { file, hf, definition: def, config } = m;
  const ckpt = Checkpoint.open(dir);
  try {
    const fit: ConfigFit = { dir, file, hf, architecture: def.architecture };
    checkConfigAgainstCheckpoint(def, config, ckpt, fit);
    const { graph } = buildModelGraph(m, (n) => ckpt.has(n));
    // FASTDLLM_DEBUG=3, for both targets: the fused graph the CPU module or the CUDA plan is made from.
    if (env.debug >= 3) debugLog(3, `fused IR of ${dir}:\n${printGraph(graph)}`);
    // Every weight read is checked as the probes were (the layers past them are checked only here).
    const checked = (name: string, shape: readonly number[]) => checkedTensor(ckpt, name, shape, fit);
    const weights: WeightSource = (name, shape) => {
      checked(name, shape);
      return ckpt.readF32(name);
    };
    const reader: TensorReader = {
      dtype(name, shape) {
        const info = checked(name, shape);
        if (!(info.dtype in STORED_BYTES)) throw new CheckpointError(`${info.file}: tensor '${name}' is ${info.dtype}; weights must be F32, BF16 or F16`, info.file, name);
        return info.dtype as StoredFloat;
      },
      readRows(name, r0, r1, dst) {
        const info = ckpt.info(name);
        const rowBytes = (info.end - info.begin) / (info.shape[0] || 1);
        const len = dst instanceof Uint8Array ? dst.length : dst.length * rowBytes;
        if (len !== (r1 - r0) * rowBytes || !(dst instanceof Uint8Array || dst.every((d) => d.length === rowBytes))) throw new Error(`weights: rows [${r0}, ${r1}) of '${name}' are ${(r1 - r0) * rowBytes} bytes, not ${len}`);
        ckpt.readBytes(name, r0 * rowBytes, dst);
      },
    };
    return await build({ definition: def, config, graph, weights, reader, stored: () => checkpointPrecision(ckpt, hf) });
  } finally {
    ckpt.close();
  }
}
