import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** Paths and loaders of the golden fixtures (copied from shared/golden). */
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
/** A fixture model's directory by its name (dir) in test/fixtures/models. */
export const modelDir = (name: string) => join(FIXTURES, 'models', name);

/** A fixture JSON file, stored gzipped (`name.gz`) to keep the repository light. */
export const readFixtureJson = (name: string) => JSON.parse(gunzipSync(readFileSync(join(FIXTURES, `${name}.gz`))).toString('utf8'));

/** One forward of forward.json: the call, its inputs and the logits to match (head and tail rows, checksums). */
export interface ForwardVector {
  call: 'full' | 'prefix' | 'dual';
  input_ids: number[];
  cache_input_ids?: number[];
  prefix_len?: number;
  block?: [number, number];
  logits: {
    shape: [number, number];
    head_rows: number[][];
    tail_rows: number[][];
    tail_start: number;
    argmax: number[];
    checksum: { sum: number; abs_sum: number; sq_sum: number; row_sums: number[] };
  };
}

/** A fixture model's forward vectors (forward.json). */
export interface ForwardModel { family: string; vocab_size: number; mask_id: number; eos_id: number; vectors: ForwardVector[] }

/** forward.json's vectors per fixture model name. */
export function loadForwardGolden(): Record<string, ForwardModel> {
  return readFixtureJson('forward.json').models;
}

/** One v1 decoding vector (llada_cases.json, dream_cases.json): options, output, nfe and per-step positions. */
export interface GoldenCase {
  id: string;
  family: 'llada' | 'dream';
  model: string;
  routine: 'generate' | 'prefix_cache' | 'dual_cache';
  params: Record<string, any>;
  prompt: number[];
  output: number[];
  generated: number[];
  nfe: number;
  tokens_per_step: number[];
  steps: { kind: string; n: number; pos: number[] }[];
}

/** The v1 decoding vectors of one family. */
export function loadCases(family: 'llada' | 'dream'): GoldenCase[] {
  return readFixtureJson(`${family}_cases.json`).cases;
}

/** max |a - r| / max |r|. */
export function relErr(a: ArrayLike<number>, r: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < r.length; i++) {
    num = Math.max(num, Math.abs(a[i] - r[i]));
    den = Math.max(den, Math.abs(r[i]));
  }
  return num / den;
}
