import type { DecoderConfig, ModelDefinition } from './define.ts';
import { ConfigError } from './config-keys.ts';
import { llada } from './llada.ts';
import { dream } from './dream.ts';
import { fastDllmQwen } from './fast-dllm-qwen.ts';

const definitions: ModelDefinition<any>[] = [llada, dream, fastDllmQwen];

/** Adds a user-defined model; it wins over built-ins that also match its config. */
export function registerModel<C extends DecoderConfig>(def: ModelDefinition<C>): void {
  definitions.unshift(def);
}

/** The definition that reads this config.json, or an error naming the file and model_type. */
export function findModelDefinition(hf: Record<string, unknown>, file: string): ModelDefinition<DecoderConfig> {
  const def = definitions.find((d) => d.matches(hf));
  if (!def) {
    const known = [...new Set(definitions.map((d) => d.architecture))].join(', ');
    throw new ConfigError(`${file}: unknown architecture (model_type ${JSON.stringify(hf.model_type)}); known: ${known}`);
  }
  return def;
}

/** True for the definitions fastdllm ships (a fresh thread or process finds them by model_type; a registered one it would not). */
export function isBuiltinDefinition(def: ModelDefinition<any>): boolean {
  return def === llada || def === dream || def === fastDllmQwen;
}
