import { join } from 'node:path';
import { readJsonObject } from '../io/config.ts';
import { buildForwardGraph, type DecoderConfig, type ModelDefinition } from '../models/define.ts';
import { findModelDefinition } from '../models/registry.ts';

/** A model described by its config alone: definition, config and the weights its graph declares. */
export interface ModelSpec {
  definition: ModelDefinition<DecoderConfig>;
  config: DecoderConfig;
  weights: { name: string; shape: number[] }[];
}

/**
 * Reads a config.json (a file, or a model directory) and lists the weights the model's graph
 * declares. Optional weights come from `hasWeight` (a checkpoint) or else from the config.
 */
export function specFromConfig(path: string, hasWeight?: (name: string) => boolean): ModelSpec {
  const file = path.endsWith('.json') ? path : join(path, 'config.json');
  const hf = readJsonObject(file, 'model config');
  const definition = findModelDefinition(hf, file);
  const config = definition.fromHfConfig(hf, file);
  const implied = new Set(definition.impliedWeights?.(config) ?? []);
  const graph = buildForwardGraph(definition, config, { hasWeight: hasWeight ?? ((n) => implied.has(n)) });
  const weights = graph.ofKind('param').map((n) => ({ name: n.attrs.name, shape: n.shape as number[] }));
  return { definition, config, weights };
}

export const numelOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 2 : 0)} ${u[i]}`;
}
