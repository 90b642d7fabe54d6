import type { ForwardCall } from '../runtime/forward.ts';
import type { DecodeRow, RowStep } from './row.ts';
import { fillHeadRows } from './head-rows.ts';

/**
 * Where rows sit on the engine's shared canvas: row b's own position p is canvas index
 * off[b] + p; canvas indices outside [off[b], off[b] + length) are padding, masked as keys.
 * With a cache, every row's current block starts at the same canvas index (the forward's
 * `start` is one scalar per call); without one, rows end together (left padding).
 */
export interface Layout {
  rows: DecodeRow[];
  off: number[];
  L: number;
}

/** A layout for rows about to take a full forward (`steps[b]` is row b's request). */
export function makeLayout(rows: DecodeRow[], steps: RowStep[], cached: boolean, blockLength: number): Layout {
  if (!cached) {
    const L = Math.max(...rows.map((r) => r.length));
    return { rows, off: rows.map((r) => L - r.length), L };
  }
  const starts = rows.map((r, b) => r.promptLength + steps[b].block * blockLength);
  const S = Math.max(...starts);
  const off = starts.map((s) => S - s);
  return { rows, off, L: Math.max(...rows.map((r, b) => off[b] + r.length)) };
}

/** True when two layouts place the same rows at the same offsets (cache and device canvas stay valid). */
export function sameLayout(a: Layout | undefined, b: Layout): boolean {
  return !!a && a.L === b.L && a.rows.length === b.rows.length && a.rows.every((r, i) => r === b.rows[i] && a.off[i] === b.off[i]);
}

/** The layout's canvas [B, L]: each row's tokens at its offset, the model's pad id elsewhere. */
export function layoutCanvas(l: Layout, padId: number): Int32Array {
  const x = new Int32Array(l.rows.length * l.L).fill(padId);
  l.rows.forEach((r, b) => x.set(r.x, b * l.L + l.off[b]));
  return x;
}

/**
 * The forward call over window [A, E) of the layout. `steps[b]` is row b's request (undefined:
 * the row idles in this forward, its K/V still rewritten); guided rows get a second, prompt-
 * masked copy after all the others. `R` head rows per batch row (the longest request).
 */
export function layoutCall(l: Layout, steps: (RowStep | undefined)[], guided: boolean[], A: number, E: number, R: number, padId: number, maskId: number): ForwardCall {
  const B = l.rows.length, L = l.L, T = E - A;
  const order = [...l.rows.keys(), ...l.rows.keys()].filter((_, r) => r < B || guided[r - B]);
  const nb = order.length;
  const ids = new Int32Array(nb * T), pos = new Int32Array(nb * T), keyMask = new Uint8Array(nb * L), head = new Int32Array(nb * R);
  order.forEach((b, r) => {
    const row = l.rows[b], off = l.off[b], twin = r >= B;
    for (let i = 0; i < T; i++) {
      const p = A + i - off;
      const inside = p >= 0 && p < row.length;
      ids[r * T + i] = !inside ? padId : twin && p < row.promptLength ? maskId : row.x[p];
      pos[r * T + i] = Math.min(Math.max(0, p), row.length - 1);
    }
    keyMask.fill(1, r * L + off, r * L + off + row.length);
    const st = steps[b];
    const want = st ? st.heads.map((h) => off + st.a + h - A) : [];
    fillHeadRows(head, r, R, want);
  });
  return { batch: nb, ids, positions: pos, start: A, keyMask, headRows: head };
}
