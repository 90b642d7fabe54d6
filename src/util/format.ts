// Pure text helpers every layer may import (util/ imports nothing from src/).

/** A byte count in binary units: `512 B`, `1.50 KiB`, `3.25 GiB` (messages, reports, `info`). */
export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 2 : 0)} ${u[i]}`;
}
