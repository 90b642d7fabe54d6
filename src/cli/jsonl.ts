import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

/**
 * Reads a JSONL file named by a flag: one JSON value per non-blank line, each turned into a
 * record by `parse` (which returns an error message for a line it cannot use). Errors name the
 * flag, the file and the 1-based line.
 */
export function readJsonLines<T>(file: string, flag: string, parse: (value: unknown) => T | string): T[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`);
  }
  const out: T[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${flag}: ${file} line ${i + 1} is not JSON`);
    }
    const r = parse(value);
    if (typeof r === 'string') throw new UsageError(`${flag}: ${file} line ${i + 1} ${r}`);
    out.push(r);
  });
  if (out.length === 0) throw new UsageError(`${flag}: ${file} has no records`);
  return out;
}
