import { readFileSync } from 'node:fs';
import { UsageError } from './args.ts';

/**
 * What a JSONL line parser makes of one value: the record, or why the line cannot be used. A
 * tagged result, not `T | string`: a record may itself be a string (a text prompt), and must
 * never be taken for an error message.
 */
export type LineResult<T> = { ok: true; record: T } | { ok: false; error: string };

/** A usable line's record. */
export const record = <T>(r: T): LineResult<T> => ({ ok: true, record: r });

/** An unusable line: `error` completes "FLAG: FILE line N ..." (e.g. 'needs a number'). */
export const badLine = <T = never>(error: string): LineResult<T> => ({ ok: false, error });

/**
 * Reads a JSONL file named by a flag: one JSON value per non-blank line, each turned into a
 * record by `parse`. Errors name the flag, the file and the 1-based line.
 */
export function readJsonLines<T>(file: string, flag: string, parse: (value: unknown) => LineResult<T>): T[] {
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
    if (!r.ok) throw new UsageError(`${flag}: ${file} line ${i + 1} ${r.error}`);
    out.push(r.record);
  });
  if (out.length === 0) throw new UsageError(`${flag}: ${file} has no records`);
  return out;
}
