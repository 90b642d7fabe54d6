/** Seeded test inputs: SEED=... replays a failure (the seed is printed in the assertion message). */
export const TEST_SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32, the one the task generator uses (one definition in the repo). */
export { makeRng as mulberry } from '../../src/eval/arith-task.ts';

/** n uniform values in [-scale, scale) from `rnd`. */
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
