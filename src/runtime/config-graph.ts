import { basename, join } from 'node:path';
import { loadHfConfig, readJsonObject } from '../io/config.ts';
import type { Graph } from '../ir/graph.ts';
import { fuse } from '../ir/passes/fuse.ts';
import { buildForwardGraph, type BuildOptions, type DecoderConfig, type ModelDefinition } from '../models/define.ts';
import { findModelDefinition } from '../models/registry.ts';

// config.json -> model config -> graph, in one place: the loaders, `info`, `random-checkpoint`,
// `inspect`, both tuners and the benches all come through here.

/** A model's config.json read and mapped: the file, its raw keys, the definition and the model config. */
export interface ModelConfig {
  file: string;
  hf: Record<string, unknown>;
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
}

/** A model's fused forward graph and the weights (names and shapes) it reads. */
export interface ConfigGraph extends ModelConfig {
  graph: Graph;
  weights: { name: string; shape: number[] }[];
}

/**
 * Reads a config.json (a file, or a model directory holding one), keys replaced by `override`,
 * and maps it with `definition` (default: the registered definition that matches it).
 */
export function readModelConfig(path: string, opts: { override?: Record<string, unknown>; definition?: ModelDefinition<any> } = {}): ModelConfig {
  const isFile = path.endsWith('.json');
  const file = isFile ? path : join(path, 'config.json');
  // A model directory: config.json with its generation_config.json (loadHfConfig), as loaders read it.
  const hf = { ...(isFile ? readJsonObject(file, 'config.json') : loadHfConfig(path)), ...opts.override };
  const definition: ModelDefinition<DecoderConfig> = opts.definition ?? findModelDefinition(hf, file);
  return { file, hf, definition, config: definition.fromHfConfig(hf, file) };
}

/**
 * Builds and fuses the forward graph of a mapped config. Optional weights are those `hasWeight`
 * names (a checkpoint's), else those the config implies (no checkpoint yet).
 */
export function buildModelGraph(m: ModelConfig, hasWeight?: BuildOptions['hasWeight']): ConfigGraph {
  const implied = new Set(m.definition.impliedWeights?.(m.config) ?? []);
  const raw = buildForwardGraph(m.definition, m.config, { hasWeight: hasWeight ?? ((n) => implied.has(n)) });
  const weights = raw.ofKind('param').map((n) => ({ name: n.attrs.name as string, shape: n.shape as number[] }));
  return { ...m, graph: fuse(raw), weights };
}

/**
 * The fused forward graph from a config.json alone (readModelConfig, then buildModelGraph): what
 * `inspect`, `info`, `random-checkpoint`, the tuners and the compile checks use.
 */
export function graphFromConfig(path: string, override: Record<string, unknown> = {}, hasWeight?: BuildOptions['hasWeight']): ConfigGraph {
  return buildModelGraph(readModelConfig(path, { override }), hasWeight);
}

/** A short label for a config file (its directory for config.json, else its base name). */
export function configLabel(file: string): string {
  const b = basename(file);
  return b === 'config.json' ? basename(file.slice(0, -b.length - 1)) : b.replace(/\.json$/, '');
}
