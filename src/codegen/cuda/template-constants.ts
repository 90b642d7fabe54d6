import { SELECT_MODES } from '../../ir/select-rule.ts';
import { COPY_MODES } from './small-kernels.ts';

/**
 * Every number the .cuh templates share with TypeScript (mode and op numbers), by macro prefix.
 * Each comes from its one TypeScript table; the templates use only the generated names, so a
 * number is never written twice.
 */
const TABLES: readonly [prefix: string, table: Readonly<Record<string, number>>][] = [
  ['FD_SELECT_', SELECT_MODES],
  ['FD_COPY_', COPY_MODES],
];

/** The macro name of one table entry: FD_SELECT_ + 'threshold' -> FD_SELECT_THRESHOLD. */
const constantName = (prefix: string, key: string): string => prefix + key.toUpperCase();

/**
 * The `#define` lines of every shared number, prepended by the codegen to each module (before
 * the template bodies) and by the CPU-thread harnesses to their source.
 */
export function templateDefines(): string {
  return TABLES.flatMap(([prefix, table]) => Object.entries(table).map(([k, v]) => `#define ${constantName(prefix, k)} ${v}`)).join('\n') + '\n';
}
