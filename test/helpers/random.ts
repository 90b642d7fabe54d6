/** Seeded test inputs: SEED=... replays a failure (the seed is printed in the assertion message). */
export const TEST_SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomF32(n: number, rnd: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
}

/** Largest violation of |a - r| <= atol + rtol |r| (<= 0 means all close); NaN fails. */
export function allcloseExcess(a: ArrayLike<number>, r: ArrayLike<number>, atol: number, rtol: number): number {
  let worst = -Infinity;
  for (let i = 0; i < r.length; i++) {
    const d = Math.abs(a[i] - r[i]) - (atol + rtol * Math.abs(r[i]));
    if (Number.isNaN(d)) return Infinity;
    if (d > worst) worst = d;
  }
  return worst;
}
