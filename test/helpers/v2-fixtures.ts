import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, modelDir, readFixtureJson } from './golden.ts';
import { byteTokenizerJson } from './byte-tokenizer.ts';
import { groupBy } from './group-by.ts';
import { loadModel, type Model } from '../../src/api.ts';

/** One Fast-dLLM v2 vector (REFERENCE-V2.md, "Vectors"). */
export interface V2Case {
  id: string;
  family: 'fastdllm_v2';
  model: string;
  params: {
    gen_length: number; block_length: number; small_block: number; threshold: number; use_block_cache: boolean;
    temperature: number; mask_id: number; stop_id: number; pad_id: number;
  };
  prompt: number[];
  generated: number[];
  nfe: number;
  steps: { kind: 'prefill' | 'block' | 'sub' | 'commit'; n: number; pos: number[] }[];
  upstream_crashes: boolean;
  min_margin: number;
}

/** The v2 vectors, stored gzipped (test/fixtures/v2_cases.json.gz, shared/golden/v2_cases.json). */
export function loadV2Cases(): V2Case[] {
  return readFixtureJson('v2_cases.json').cases;
}

/** A v2 case's model and parameters: the cases of one key decode together as one batch. */
export const v2ParamsKey = (c: V2Case) => `${c.model} ${JSON.stringify(c.params)}`;

/** The cases of each model and parameter set (groupBy's order: first seen first). */
export const v2Groups = (cases: V2Case[]) => groupBy(cases, v2ParamsKey);

/** One case per prompt length, in the order the lengths first come (the last case of a length wins). */
export const onePerPromptLength = (cases: V2Case[]) => [...new Map(cases.map((c) => [c.prompt.length, c])).values()];

interface ManifestEntry { name: string; dir: string; weights?: string }

let materialized: string | undefined;

/**
 * The directory of a fixture model. A manifest entry with `weights` (the v2_* models: the
 * dream_* weights under a Fast_dLLM_Qwen config.json) is assembled once per process in a
 * temporary directory: its own config.json next to a link to the named model's safetensors,
 * so the repository holds those weights once.
 */
export function fixtureModelDir(name: string): string {
  const manifest = JSON.parse(readFileSync(join(FIXTURES, 'models', 'manifest.json'), 'utf8')) as { models: ManifestEntry[] };
  const entry = manifest.models.find((m) => m.name === name);
  if (!entry) throw new Error(`test/fixtures/models/manifest.json: no model '${name}'`);
  if (!entry.weights) return modelDir(entry.dir);
  materialized ??= mkdtempSync(join(tmpdir(), 'fastdllm-fixtures-'));
  const dir = join(materialized, entry.name);
  if (!existsSync(join(dir, 'model.safetensors'))) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(modelDir(entry.dir), 'config.json'), join(dir, 'config.json'));
    const weights = join(modelDir(entry.weights), 'model.safetensors');
    try {
      symlinkSync(weights, join(dir, 'model.safetensors'));
    } catch {
      copyFileSync(weights, join(dir, 'model.safetensors'));
    }
  }
  return dir;
}

/**
 * A v2 fixture model with a tokenizer.json whose id i reads "<i> " (the stop and mask ids are
 * special tokens, skipped), loaded on the CPU; `text` decodes ids the same way without it.
 */
export async function v2ModelWithTokenizer(name: string, stopId: number, maskId: number): Promise<{ model: Model; text: (ids: number[]) => string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-v2-tok-'));
  const src = fixtureModelDir(name);
  copyFileSync(join(src, 'config.json'), join(dir, 'config.json'));
  symlinkSync(realpathSync(join(src, 'model.safetensors')), join(dir, 'model.safetensors'));
  const V = (JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as { vocab_size: number }).vocab_size;
  const special = { [stopId]: '<stop>', [maskId]: '<mask>' };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson(Array.from({ length: V }, (_, i) => Buffer.from(`${i} `)), special)));
  const text = (ids: number[]) => ids.filter((t) => !(t in special)).map((t) => `${t} `).join('');
  return { model: await loadModel(dir, { device: 'cpu' }), text };
}
