import { join } from 'node:path';
import { expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { CXX, describeGated } from '../helpers/gates.ts';

const MODEL = join(import.meta.dirname, '..', '..', 'assets', 'arith-tiny');
const PROMPT = 'Ana has 12 pencils. She buys 7 more. How many pencils does Ana have now?';
const generate = (debug: string) => cli(['generate', PROMPT, '--model', MODEL, '--device', 'cpu', '--json'], undefined, { FASTDLLM_DEBUG: debug, FASTDLLM_DUMP_DIR: undefined, FASTDLLM_OVERRIDE_DIR: undefined });
const inspect = (emit: string) => {
  const r = cli(['inspect', '--device', 'cpu', '--model', MODEL, '--emit', emit]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
};

describeGated(CXX, 'FASTDLLM_DEBUG levels on the CPU, through the CLI', () => {
  it('6 prints every stage: compile events, launch times, the fused IR, the C++, its assembly, one trace line per step', () => {
    const r = generate('6');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { tokens: number[][]; nfe: number };
    const err = r.stderr;
    expect(err).toMatch(/cpu module cpu_[0-9a-f]{12}: (compiled|cache hit) /); // 1
    expect(err).toMatch(/\[fastdllm\] {3}%\d+ matmul \[\d+,\d+,\d+\] \d+\.\d{3} ms/); // 2
    expect(err).toContain(`fused IR of ${MODEL}:\n${inspect('ir')}`); // 3: the graph inspect prints
    expect(err).toContain(inspect('cpp')); // 4: the module inspect prints
    expect(err).toMatch(/assembly \(\S+ -S\):\n[\s\S]*\.cfi_startproc/); // 5
    // 6: one line per forward, naming its kind, block and nfe; its choices are the final tokens.
    const trace = err.split('\n').filter((l) => l.includes('decode step nfe='));
    expect(trace.length).toBe(result.nfe);
    trace.forEach((line, i) => {
      const m = /decode step nfe=(\d+) kind=(full|prefix|dual) block=(\d+) [\d.]+ ms: (.*)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(Number(m![1])).toBe(i + 1);
      for (const row of m![4].matchAll(/row (\d+) positions \[([\d,]*)\] tokens \[([\d,]*)\]/g)) {
        const pos = row[2].split(',').map(Number), tok = row[3].split(',').map(Number);
        expect(pos.length).toBe(tok.length);
        pos.forEach((p, j) => expect(result.tokens[Number(row[1])][p], line).toBe(tok[j]));
      }
    });
    const chosen = trace.reduce((s, l) => s + [...l.matchAll(/positions \[([\d,]+)\]/g)].reduce((a, x) => a + x[1].split(',').length, 0), 0);
    expect(chosen).toBe(result.tokens[0].length); // every generated position decided exactly once
  }, 180_000);

  it('levels gate: 2 prints launch times but neither the IR, the source nor the trace', () => {
    const r = generate('2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/%\d+ matmul \[/);
    expect(r.stderr).not.toContain('fused IR');
    expect(r.stderr).not.toContain('extern "C"');
    expect(r.stderr).not.toContain('decode step nfe=');
    const quiet = generate('0');
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('[fastdllm]');
  }, 120_000);
});
