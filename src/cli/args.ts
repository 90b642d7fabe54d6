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

/** The flags that choose where and how a model runs (generate, forward, eval). */
export const DEVICE_FLAGS = {
  device: { type: 'string' }, precision: { type: 'string' }, backend: { type: 'string' },
} as const;

export const DEVICE_HELP = `--device cpu|cuda|auto (default auto: the GPU when the CUDA driver and NVRTC load, else the CPU,
and it says which and why on stderr); --precision f32|bf16 (GPU only; default: the checkpoint's
dtype, so bf16 weights run in bf16; f32 gives the CPU's results); --backend native|reference (CPU kernels: generated C++, or the TypeScript reference).`;

/** --device / --precision / --backend as load options. */
export function loadOptionsFromFlags(v: Record<string, unknown>): { device: 'cpu' | 'cuda' | 'auto'; precision?: 'f32' | 'bf16'; backend?: 'native' | 'reference' | 'auto' } {
  const device = choiceFlag(v.device as string | undefined, '--device', ['cpu', 'cuda', 'auto'] as const) ?? 'auto';
  const precision = choiceFlag(v.precision as string | undefined, '--precision', ['f32', 'bf16'] as const);
  const backend = choiceFlag(v.backend as string | undefined, '--backend', ['native', 'reference', 'auto'] as const);
  if (backend !== undefined && backend !== 'auto' && device === 'cuda') throw new UsageError(`--backend ${backend} chooses CPU kernels; it cannot go with --device cuda`);
  if (precision === 'bf16' && device === 'cpu') throw new UsageError('--precision bf16 runs on the GPU only; the CPU runs f32 (drop --precision or use --device cuda|auto)');
  // Asking for CPU kernels by name means the CPU, even under the default auto.
  const dev = backend !== undefined && backend !== 'auto' && device === 'auto' ? 'cpu' : device;
  return { device: dev, precision, backend };
}
