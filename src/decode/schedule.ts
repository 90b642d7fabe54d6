/** Token-count schedules of LLaDA and Dream, with the reference's exact rounding. */
const f = Math.fround;

/** LLaDA: floor(M / S) per step, plus one for the first M % S steps. */
export function numTransferTokens(masked: number, steps: number): number[] {
  const base = Math.floor(masked / steps), rem = masked % steps;
  return Array.from({ length: steps }, (_, i) => base + (i < rem ? 1 : 0));
}

/** torch.linspace(1, eps, n + 1) in f32, computed as torch does (two halves, one rounding each). */
export function dreamTimesteps(n: number, eps: number): Float32Array {
  const e = f(eps);
  const step = f((e - 1) / n);
  const t = new Float32Array(n + 1);
  const halfway = Math.floor((n + 1) / 2);
  for (let k = 0; k <= n; k++) t[k] = k < halfway ? f(step * k + 1) : f(-step * (n - k) + e);
  return t;
}

/** Dream: floor(M * (1 - t[i+1] / t[i])) with every operation rounded to f32. */
export function dreamTransferCount(masked: number, t: Float32Array, i: number): number {
  return Math.floor(f(f(masked) * f(1 - f(t[i + 1] / t[i]))));
}
