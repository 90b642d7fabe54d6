/**
 * JSON files of a Hugging Face model directory (config.json, generation_config.json, ...).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './errors.ts';

/**
 * Parse the JSON file at `file`. `what` says what it is for the error message
 * ("config.json", "safetensors index"); missing, unreadable or malformed files throw
 * `CheckpointError` naming the file.
 */
export function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(e)})`;
    throw new CheckpointError(`${file}: ${what} ${why}`, file, undefined, { cause: e });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CheckpointError(`${file}: ${what} is not valid JSON (${why})`, file, undefined, { cause: e });
  }
}

/** Like `readJsonFile`, and the top level must be a JSON object. */
export function readJsonObject(file: string, what: string): Record<string, unknown> {
  const v = readJsonFile(file, what);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CheckpointError(`${file}: ${what} must be a JSON object`, file);
  }
  return v as Record<string, unknown>;
}

/**
 * The model's `config.json` as a plain object; `generation_config.json`, when present,
 * is placed under the `generation` key (it carries eos/pad/mask ids for some models).
 */
export function loadHfConfig(dir: string): Record<string, unknown> {
  const cfg = readJsonObject(path.join(dir, 'config.json'), 'config.json');
  const genPath = path.join(dir, 'generation_config.json');
  if (fs.existsSync(genPath)) cfg.generation = readJsonObject(genPath, 'generation_config.json');
  return cfg;
}
