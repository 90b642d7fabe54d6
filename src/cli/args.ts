import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line, naming the flag at fault. */
export class UsageError extends Error {}

/** parseArgs with errors turned into UsageError (unknown flag, missing value). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export function intFlag(v: string | undefined, flag: string, opts: { min?: number } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || v.trim() === '') throw new UsageError(`${flag}: expected an integer, got ${JSON.stringify(v)}`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`${flag}: must be >= ${opts.min}, got ${n}`);
  return n;
}

export function numFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || v.trim() === '') throw new UsageError(`${flag}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** "1,2,3" -> [1, 2, 3]. */
export function idsFlag(v: string, flag: string): number[] {
  const parts = v.split(',').map((s) => s.trim()).filter((s) => s.length);
  if (parts.length === 0) throw new UsageError(`${flag}: no token ids given`);
  return parts.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag}: ${JSON.stringify(s)} is not a token id`);
    return n;
  });
}

export function choiceFlag<C extends string>(v: string | undefined, flag: string, choices: readonly C[]): C | undefined {
  if (v === undefined) return undefined;
  if (!choices.includes(v as C)) throw new UsageError(`${flag}: must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
  return v as C;
}

/** genLength -> --gen-length (option names in errors become the CLI's flags). */
export const flagOf = (option: string) => `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
