/** FASTDLLM_DEBUG>=2: time per op kind, printed once at exit (where the forward's time goes). */
const totals = new Map<string, { ms: number; n: number }>();
let hooked = false;

export function recordOpTime(op: string, ms: number): void {
  const t = totals.get(op) ?? { ms: 0, n: 0 };
  t.ms += ms;
  t.n++;
  totals.set(op, t);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      const all = [...totals.values()].reduce((s, t) => s + t.ms, 0);
      const lines = [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms)
        .map(([k, t]) => `  ${k.padEnd(16)} ${t.ms.toFixed(1).padStart(9)} ms ${(100 * t.ms / all).toFixed(1).padStart(5)}%  x${t.n}`);
      process.stderr.write(`[fastdllm] time per op:\n${lines.join('\n')}\n`);
    });
  }
}
