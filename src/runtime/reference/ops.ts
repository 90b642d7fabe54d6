/**
 * Reference kernels: the simplest correct loop for every IR op, f64 accumulation, readable as
 * the spec. The CPU backend's generated kernels are tested against these; selection ops run
 * from here on the host for the CPU target.
 */

const f = Math.fround;

/** out[i, :] = table[ids[i], :]. */
export function embedding(table: Float32Array, ids: Int32Array, out: Float32Array, d: number, rows: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id < 0 || id >= rows) throw new RangeError(`token id ${id} outside the vocabulary [0, ${rows})`);
    out.set(table.subarray(id * d, (id + 1) * d), i * d);
  }
}

/** out[m, n] = sum_k x[m, k] w[n, k] (+ bias[n]) (+ res[m, n]). */
export function matmul(x: Float32Array, w: Float32Array, out: Float32Array, m: number, n: number, k: number, bias?: Float32Array, res?: Float32Array): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
      if (bias) s += bias[j];
      if (res) s += res[i * n + j];
      out[i * n + j] = s;
    }
  }
}

export function rmsnorm(x: Float32Array, w: Float32Array, out: Float32Array, rows: number, d: number, eps: number): void {
  for (let i = 0; i < rows; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[i * d + j] * x[i * d + j];
    const r = 1 / Math.sqrt(f(ss / d) + eps);
    for (let j = 0; j < d; j++) out[i * d + j] = f(x[i * d + j] * r) * w[j];
  }
}

/** inv_freq as torch computes it in f32: 1 / theta^(2i / hd). */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  const inv = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) inv[i] = f(1 / f(Math.pow(theta, f((2 * i) / headDim))));
  return inv;
}

export function rope(x: Float32Array, pos: Int32Array, out: Float32Array, heads: number, hd: number, theta: number): void {
  const inv = ropeInvFreq(hd, theta);
  const half = hd / 2;
  const width = heads * hd;
  for (let t = 0; t < pos.length; t++) {
    const p = f(pos[t]);
    for (let i = 0; i < half; i++) {
      const ang = f(p * inv[i]);
      const c = f(Math.cos(ang)), s = f(Math.sin(ang));
      for (let h = 0; h < heads; h++) {
        const o = t * width + h * hd;
        const a = x[o + i], b = x[o + i + half];
        out[o + i] = a * c - b * s;
        out[o + i + half] = b * c + a * s;
      }
    }
  }
}

/** cache[b, start + t, :] = win[b, t, :]. */
export function cacheWrite(cache: Float32Array, win: Float32Array, batch: number, kmax: number, t: number, width: number, start: number): void {
  if (start < 0 || start + t > kmax) throw new RangeError(`cache write rows [${start}, ${start + t}) outside the cache's ${kmax} rows`);
  for (let b = 0; b < batch; b++) cache.set(win.subarray(b * t * width, (b + 1) * t * width), (b * kmax + start) * width);
}

/** Head h of the output is kv head floor(h / repeats). */
export function repeatKv(kv: Float32Array, out: Float32Array, rows: number, kvHeads: number, hd: number, repeats: number): void {
  for (let r = 0; r < rows; r++)
    for (let h = 0; h < kvHeads * repeats; h++)
      out.set(kv.subarray((r * kvHeads + Math.floor(h / repeats)) * hd, (r * kvHeads + Math.floor(h / repeats) + 1) * hd), (r * kvHeads * repeats + h) * hd);
}

/** q [B, T, H*hd]; k, v [B, Kmax, Hk*hd]; keys [0, K) where mask[b, j] != 0. */
export function attention(q: Float32Array, k: Float32Array, v: Float32Array, mask: Uint8Array, out: Float32Array,
  batch: number, t: number, kLen: number, kmax: number, heads: number, kvHeads: number, hd: number, scale: number): void {
  const r = heads / kvHeads;
  const s = new Float64Array(kLen);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < t; i++)
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / r);
        const qo = ((b * t + i) * heads + h) * hd;
        let mx = -Infinity;
        for (let j = 0; j < kLen; j++) {
          if (!mask[b * kLen + j]) { s[j] = -Infinity; continue; }
          const ko = ((b * kmax + j) * kvHeads + kh) * hd;
          let d = 0;
          for (let e = 0; e < hd; e++) d += q[qo + e] * k[ko + e];
          s[j] = d * scale;
          if (s[j] > mx) mx = s[j];
        }
        let sum = 0;
        for (let j = 0; j < kLen; j++) { s[j] = s[j] === -Infinity ? 0 : Math.exp(s[j] - mx); sum += s[j]; }
        for (let e = 0; e < hd; e++) {
          let acc = 0;
          for (let j = 0; j < kLen; j++) if (s[j] !== 0) acc += s[j] * v[((b * kmax + j) * kvHeads + kh) * hd + e];
          out[qo + e] = sum > 0 ? acc / sum : 0;
        }
      }
}

export const silu = (x: number): number => x / (1 + Math.exp(-x));

export function gatherRows(x: Float32Array, rows: Int32Array, out: Float32Array, batch: number, t: number, d: number): void {
  const r = rows.length / batch;
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < r; i++) {
      const row = rows[b * r + i];
      if (row < 0 || row >= t) throw new RangeError(`head row ${row} outside the window [0, ${t})`);
      out.set(x.subarray((b * t + row) * d, (b * t + row + 1) * d), (b * r + i) * d);
    }
}

export function logitShift(x: Float32Array, out: Float32Array, batch: number, t: number, v: number): void {
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < t; i++) out.set(x.subarray((b * t + Math.max(i - 1, 0)) * v, (b * t + Math.max(i - 1, 0) + 1) * v), (b * t + i) * v);
}

/** First index of the maximum. */
export function argmaxRow(x: ArrayLike<number>, o: number, v: number): number {
  let best = o, bv = x[o]; // the best value kept in a local: one read per element
  for (let j = o + 1; j < o + v; j++) {
    const xj = x[j];
    if (xj > bv) { bv = xj; best = j; }
  }
  return best - o;
}

/** Row softmax; precision 'f32' rounds each step to f32 as torch does. */
export function softmaxRow(x: ArrayLike<number>, o: number, v: number, out: Float64Array | Float32Array, precision: 'f32' | 'f64'): void {
  let mx = -Infinity;
  for (let j = 0; j < v; j++) if (x[o + j] > mx) mx = x[o + j];
  if (precision === 'f64') {
    let s = 0;
    for (let j = 0; j < v; j++) { out[j] = Math.exp(x[o + j] - mx); s += out[j]; }
    for (let j = 0; j < v; j++) out[j] /= s;
  } else {
    let s = 0;
    for (let j = 0; j < v; j++) { out[j] = f(Math.exp(f(x[o + j] - mx))); s += out[j]; }
    const sf = f(s);
    for (let j = 0; j < v; j++) out[j] = f(out[j] / sf);
  }
}

export type ConfidenceKind = 'prob' | 'margin' | 'neg_entropy';

/**
 * softmax(x)[argmax x] of one row, as softmaxRow then indexing would give it, bit for bit, without
 * the V quotients: at the first maximum the shifted exponential is exp(0) = 1, so the probability
 * is 1 / s (f64) or f32(1 / f32(s)) (f32), with s summed in softmaxRow's order. The host's greedy
 * selection takes one per candidate row per step.
 */
function maxProbRow(x: ArrayLike<number>, o: number, v: number, precision: 'f32' | 'f64'): number {
  let mx = -Infinity;
  for (let j = 0; j < v; j++) if (x[o + j] > mx) mx = x[o + j];
  let s = 0;
  if (precision === 'f64') {
    for (let j = 0; j < v; j++) s += Math.exp(x[o + j] - mx);
    return 1 / s;
  }
  for (let j = 0; j < v; j++) s += f(Math.exp(f(x[o + j] - mx)));
  return f(1 / f(s));
}

/** Confidence of one logits row (see ConfidenceKind); `scratch` has room for v values (unused by 'prob'). */
export function confidenceRow(x: ArrayLike<number>, o: number, v: number, kind: ConfidenceKind, precision: 'f32' | 'f64', scratch: Float64Array): number {
  if (kind === 'prob') return maxProbRow(x, o, v, precision);
  softmaxRow(x, o, v, scratch, precision);
  if (kind === 'margin') {
    let a = -Infinity, b = -Infinity;
    for (let j = 0; j < v; j++) { const p = scratch[j]; if (p > a) { b = a; a = p; } else if (p > b) b = p; }
    return precision === 'f32' ? f(a - b) : a - b;
  }
  let s = 0;
  if (precision === 'f32') {
    for (let j = 0; j < v; j++) s = f(s + f(scratch[j] * f(Math.log(f(scratch[j] + 1e-10)))));
    return s;
  }
  for (let j = 0; j < v; j++) s += scratch[j] * Math.log(scratch[j] + 1e-10);
  return s;
}

