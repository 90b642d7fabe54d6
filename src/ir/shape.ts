/**
 * Shapes with symbolic dimensions. A dim is a number (static) or a name bound at run time
 * from the actual input shapes: 'B' batch, 'T' window length, 'K' key length, 'R' head rows,
 * 'Kmax' cache capacity, ... Names are free-form; the same name means the same size.
 */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** Run-time values of symbolic dims. */
export type DimBindings = Record<string, number>;

export function dimEquals(a: Dim, b: Dim): boolean {
  return a === b;
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i]));
}

export function shapeToString(s: Shape): string {
  return `[${s.join(', ')}]`;
}

/** Resolves every dim to a number; throws naming the unbound symbol. */
export function resolveShape(s: Shape, env: DimBindings): number[] {
  return s.map((d) => {
    if (typeof d === 'number') return d;
    const v = env[d];
    if (v === undefined) throw new Error(`symbolic dim '${d}' is not bound`);
    return v;
  });
}

/**
 * Binds the symbolic dims of `declared` against an actual shape, extending `env`.
 * Throws with `what` in the message when a static dim or an earlier binding disagrees.
 */
export function bindShape(declared: Shape, actual: readonly number[], env: DimBindings, what: string): void {
  if (declared.length !== actual.length) {
    throw new Error(`${what}: expected rank ${declared.length} ${shapeToString(declared)}, got [${actual.join(', ')}]`);
  }
  declared.forEach((d, i) => {
    const a = actual[i];
    if (typeof d === 'number') {
      if (d !== a) throw new Error(`${what}: dim ${i} must be ${d}, got ${a} (shape [${actual.join(', ')}])`);
    } else if (env[d] === undefined) {
      env[d] = a;
    } else if (env[d] !== a) {
      throw new Error(`${what}: dim ${i} ('${d}') is ${a}, but '${d}' is already ${env[d]}`);
    }
  });
}
