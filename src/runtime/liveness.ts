/**
 * Liveness over a sequence of steps (graph nodes on the host, kernel launches on the GPU): for
 * each value, the index of the last step that touches it, so its buffer can be reused after.
 * Graph outputs live to the end (Infinity). Both executors recycle temporaries with this.
 */
export function lastTouch(steps: readonly (readonly number[])[], outputs: Iterable<number>, include: (value: number) => boolean = () => true): Map<number, number> {
  const last = new Map<number, number>();
  steps.forEach((values, i) => {
    for (const v of values) if (include(v)) last.set(v, i);
  });
  for (const v of outputs) if (last.has(v) || include(v)) last.set(v, Infinity);
  return last;
}
