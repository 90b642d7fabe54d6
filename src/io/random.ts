/**
 * Deterministic random numbers for synthetic checkpoints and tests.
 *
 * xoshiro128** (32-bit state words, so no BigInt on the hot path) seeded through splitmix32;
 * normals by Box-Muller on 53-bit uniforms. The same seed gives the same stream on every
 * platform, which is what makes a random checkpoint reproducible from its seed alone.
 */
import { numel } from '../util/math.ts';

/** Hash a seed and a name (e.g. a tensor name) into a 32-bit seed, so each tensor has its own stream. */
export function hashSeed(seed: number, name = ''): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h ^ Math.floor(seed / 2 ** 32), 0x01000193);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A seeded xoshiro128** generator with uniform and normal draws. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      // splitmix32: spreads a small seed over the whole state
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9);
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r >>> 0;
  }

  /**
   * Uniform in the open interval (0, 1), 53 random bits: the decoder's draws (Gumbel noise takes
   * log(-log(u)), which must stay finite). Each batch row gets its own stream from the same seed,
   * so a row samples the same whether it decodes alone or in a batch.
   */
  uniform(): number {
    const hi = this.nextU32() >>> 5, lo = this.nextU32() >>> 6;
    return ((hi * 67108864 + lo) + 0.5) / 9007199254740992;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextF64(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Standard normal (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.nextF64(); // (0, 1]: log stays finite
    const u2 = this.nextF64();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * mulberry32: a small 32-bit generator of uniforms in [0, 1), deterministic across platforms.
 * The arithmetic task draws its problems from it (its held-out split, and so the README's eval
 * table, depend on this exact stream).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A function drawing standard normals from `seed`. */
export function seededNormal(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.normal();
}

/**
 * Random weights by name, `(name, shape) => Float32Array` as executors fetch them: norms near 1,
 * everything else uniform with std `std(name)` (uniform and xorshift32: cheap for billions of
 * values). Deterministic in (seed, name), so each tensor is the same whoever asks first.
 */
export function uniformWeights(seed: number, std: (name: string) => number = () => 0.05): (name: string, shape: readonly number[]) => Float32Array {
  return (name, shape) => {
    const n = numel(shape);
    const out = new Float32Array(n);
    let s = hashSeed(seed, name) | 1;
    const isNorm = /norm|ln_f/.test(name);
    const a = std(name) * Math.sqrt(3);
    for (let i = 0; i < n; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5; // xorshift32
      const u = (s >>> 0) / 4294967296;
      out[i] = isNorm ? 1 + 0.2 * (u - 0.5) : a * (2 * u - 1);
    }
    return out;
  };
}

/** How a synthetic tensor is filled. */
export type TensorInit =
  | { kind: 'normal'; std: number; mean?: number }
  | { kind: 'uniform'; low: number; high: number }
  | { kind: 'ones' }
  | { kind: 'zeros' };

/** Default init: N(0, 0.02^2), the usual `initializer_range`. */
export const DEFAULT_INIT: TensorInit = { kind: 'normal', std: 0.02 };

/**
 * A `fill` callback for `writeSafetensors`/`writeCheckpoint` that draws each tensor from its
 * own stream (seeded by `seed` and the tensor name), so values do not depend on chunk sizes
 * or on which other tensors exist. Chunks of a tensor must come in order from offset 0,
 * which the writer guarantees.
 */
export function randomCheckpointFill(
  seed: number,
  specs: readonly { name: string; init?: TensorInit }[],
): (name: string, offset: number, chunk: Float32Array) => void {
  const inits = new Map(specs.map((s) => [s.name, s.init ?? DEFAULT_INIT]));
  const streams = new Map<string, { rng: Rng; pos: number }>();
  return (name, offset, chunk) => {
    const init = inits.get(name);
    if (!init) throw new Error(`randomCheckpointFill: no spec for tensor '${name}'`);
    if (offset === 0) streams.set(name, { rng: new Rng(hashSeed(seed, name)), pos: 0 });
    const st = streams.get(name);
    if (!st || st.pos !== offset) throw new Error(`randomCheckpointFill: tensor '${name}' chunks out of order (offset ${offset})`);
    const { rng } = st;
    switch (init.kind) {
      case 'ones': chunk.fill(1); break;
      case 'zeros': chunk.fill(0); break;
      case 'normal': {
        const mean = init.mean ?? 0;
        for (let i = 0; i < chunk.length; i++) chunk[i] = mean + init.std * rng.normal();
        break;
      }
      case 'uniform':
        for (let i = 0; i < chunk.length; i++) chunk[i] = init.low + (init.high - init.low) * rng.nextF64();
        break;
    }
    st.pos += chunk.length;
  };
}
