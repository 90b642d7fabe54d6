import { basename } from 'node:path';
import { readJsonObject } from '../../io/config.ts';
import type { Graph } from '../../ir/graph.ts';
import { fuse } from '../../ir/passes/fuse.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../../models/define.ts';
import { findModelDefinition } from '../../models/registry.ts';

/** A model's fused forward graph built from its config.json alone (no weights needed). */
export interface ConfigGraph {
  file: string;
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  graph: Graph;
}

/**
 * Builds the fused forward graph from a config.json (a file, or a model directory holding one),
 * with no checkpoint (optional weights are those the config implies, unless `hasWeight` says),
 * config keys replaced by `override`. What `inspect` and the
 * nvcc compile checks use.
 */
export function graphFromConfig(path: string, override: Record<string, unknown> = {}, hasWeight?: (name: string) => boolean): ConfigGraph {
  const file = path.endsWith('.json') ? path : `${path}/config.json`;
  const hf = { ...readJsonObject(file, 'config.json'), ...override };
  const definition = findModelDefinition(hf, file);
  const config = definition.fromHfConfig(hf, file);
  const implied = new Set(definition.impliedWeights?.(config) ?? []);
  const graph = fuse(buildForwardGraph(definition, config, { hasWeight: hasWeight ?? ((n) => implied.has(n)) }));
  return { file, definition, config, graph };
}

/** A short label for a config file (its directory for config.json, else its base name). */
export function configLabel(file: string): string {
  const b = basename(file);
  return b === 'config.json' ? basename(file.slice(0, -b.length - 1)) : b.replace(/\.json$/, '');
}
