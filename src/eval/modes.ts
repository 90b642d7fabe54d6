import type { CacheMode, GenerateOptions } from '../decode/options.ts';

/** One row of the eval table: a decoding configuration. */
export interface EvalMode {
  /** Paper-style label: baseline, +prefix cache, +dual cache, +parallel, and combinations. */
  mode: string;
  cache: CacheMode;
  threshold: number | null;
  factor: number | null;
}

/** Mode names accepted by --modes. */
export const MODE_NAMES = ['baseline', 'prefix', 'dual', 'parallel', 'factor', 'prefix+parallel', 'dual+parallel', 'prefix+factor', 'dual+factor'] as const;
export type ModeName = (typeof MODE_NAMES)[number];
export const DEFAULT_MODES: ModeName[] = ['baseline', 'prefix', 'dual', 'parallel', 'prefix+parallel', 'dual+parallel'];

const LABEL: Record<string, string> = { none: '', prefix: '+prefix cache', dual: '+dual cache' };

/** Expands mode names and a threshold sweep into table rows, in the order given. */
export function expandModes(names: readonly ModeName[], thresholds: readonly number[], factor: number): EvalMode[] {
  const rows: EvalMode[] = [];
  for (const name of names) {
    const [first, second] = name.split('+');
    const cache: CacheMode = first === 'prefix' || first === 'dual' ? first : 'none';
    const sel = second ?? (first === 'parallel' || first === 'factor' ? first : undefined);
    const prefix = [LABEL[cache]].filter(Boolean);
    if (sel === 'parallel') {
      for (const t of thresholds) rows.push({ mode: [...prefix, '+parallel (threshold)'].join(' '), cache, threshold: t, factor: null });
    } else if (sel === 'factor') {
      rows.push({ mode: [...prefix, '+parallel (factor)'].join(' '), cache, threshold: null, factor });
    } else {
      rows.push({ mode: name === 'baseline' ? 'baseline' : prefix.join(' '), cache, threshold: null, factor: null });
    }
  }
  return rows;
}

/** Generate options of a row: fixed rows decode one token per step; parallel rows set steps = genLength. */
export function modeOptions(m: EvalMode, genLength: number, blockLength: number): GenerateOptions {
  const o: GenerateOptions = { genLength, blockLength, steps: genLength, cache: m.cache };
  if (m.threshold !== null) o.threshold = m.threshold;
  if (m.factor !== null) o.factor = m.factor;
  return o;
}
