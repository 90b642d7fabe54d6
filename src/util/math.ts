// Small pure helpers every layer may import (util/ imports nothing from src/).

/** Number of elements of a concrete shape (1 for a scalar). */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** The median of timings: the upper middle element for an even count (what every bench and tuner reports). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}
