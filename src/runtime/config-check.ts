import type { Checkpoint } from '../io/checkpoint.ts';
import { CheckpointError } from '../io/errors.ts';
import type { TensorInfo } from '../io/safetensors.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../models/define.ts';

/** What a tensor check names in its errors: the model directory, its config.json (path and keys), the architecture. */
export interface ConfigFit {
  dir: string;
  file: string;
  hf: Record<string, unknown>;
  architecture: string;
}

/**
 * The checkpoint's entry for weight `name`, after checking it is there with the shape the config
 * implies: the one check of a tensor against the config, made on the probe graphs below before
 * the model's graph is built and again on every weight a load reads (model-source.ts), so both
 * refuse alike. Errors name the file, the tensor and, where one explains it, the config.json key.
 */
export function checkedTensor(ckpt: Checkpoint, name: string, shape: readonly number[], fit: ConfigFit): TensorInfo {
  if (!ckpt.has(name)) throw new CheckpointError(`${fit.dir}: tensor '${name}' missing from the checkpoint (needed by ${fit.architecture} with this config.json)`, fit.dir, name);
  const info = ckpt.info(name);
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    const keys = shape.flatMap((d, i) => (d !== info.shape[i] ? keysWithValue(fit.hf, d) : []));
    const why = keys.length ? ` (${fit.file}: ${[...new Set(keys)].map((k) => `key '${k}' is ${fit.hf[k]}`).join(', ')})` : '';
    throw new CheckpointError(`${info.file}: tensor '${name}' has shape [${info.shape}], config.json implies [${shape}]${why}`, info.file, name);
  }
  return info;
}

/**
 * Checks a config.json against its checkpoint before the model's graph is built: a config whose
 * layer count or widths the checkpoint does not have would otherwise build a graph of a billion
 * layers (a hang) or generate kernels for absurd sizes (a C++ compile of them). The check
 * builds the graph at one and two layers only, which gives every weight name and shape and the
 * pattern of layer names, then checks
 *  - every weight of those two graphs exists with the shape the config implies, and
 *  - the checkpoint has exactly `nLayers` layers of that pattern.
 * Errors name the tensor and, where one explains it, the config.json key.
 */
export function checkConfigAgainstCheckpoint(def: ModelDefinition<DecoderConfig>, config: DecoderConfig, ckpt: Checkpoint, fit: ConfigFit): void {
  const { hf, file } = fit;
  const hasWeight = (n: string) => ckpt.has(n);
  const params = (layers: number) => new Map(buildForwardGraph(def, { ...config, nLayers: layers }, { hasWeight }).ofKind('param').map((n) => [n.attrs.name as string, n.shape as number[]]));
  const one = params(1), two = params(2);
  const probe = config.nLayers >= 2 ? two : one;
  for (const [name, shape] of probe) checkedTensor(ckpt, name, shape, fit);
  // Layer names: a weight of layer 1 is a weight of layer 0 with its index changed.
  const layerNames = [...two.keys()].filter((n) => !one.has(n));
  const pattern = layerNames.map((n1) => layerPattern(n1, one)).find((p) => p !== undefined);
  if (!pattern) return; // a definition whose weights do not follow nLayers: nothing to count
  let have = 0;
  while (ckpt.has(pattern(have))) have++;
  if (have !== config.nLayers) {
    const key = keysWithValue(hf, config.nLayers).find((k) => /layer/i.test(k)) ?? 'n_layers';
    const at = have < config.nLayers ? `tensor '${pattern(have)}' missing` : `it has tensor '${pattern(config.nLayers)}'`;
    throw new CheckpointError(`${file}: key '${key}' is ${config.nLayers}, but the checkpoint has ${have} layers (${at})`, file, key);
  }
}

/** The integer keys of config.json whose value is `v` (which key explains a wrong dimension). */
function keysWithValue(hf: Record<string, unknown>, v: number): string[] {
  return Object.keys(hf).filter((k) => hf[k] === v);
}

/** For a layer-1 weight name with a layer-0 twin in `zero`: the name of that weight at layer i. */
function layerPattern(name1: string, zero: Map<string, unknown>): ((i: number) => string) | undefined {
  for (const m of name1.matchAll(/(?<=^|\D)1(?=\D|$)/g)) {
    const pre = name1.slice(0, m.index), post = name1.slice(m.index + 1);
    if (zero.has(`${pre}0${post}`)) return (i) => `${pre}${i}${post}`;
  }
  return undefined;
}
