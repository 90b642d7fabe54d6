/**
 * Batch row r's slots [r * R, (r + 1) * R) of a forward call's head rows: the window offsets
 * `want` lists, then its first again (0 when it wants none). Every batch row has R slots (the
 * longest request) so the head is one [B * R, V] matrix; the repeats are rows of the window,
 * computed and never read.
 */
export function fillHeadRows(head: Int32Array, r: number, R: number, want: readonly number[]): void {
  for (let i = 0; i < R; i++) head[r * R + i] = want[i] ?? want[0] ?? 0;
}
