import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { badLine, readJsonLines, record } from '../../src/cli/jsonl.ts';

describe('readJsonLines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-jsonl-'));
  const file = (name: string, text: string) => { const f = join(dir, name); writeFileSync(f, text); return f; };
  const num = (v: unknown) => (typeof v === 'number' ? record(v) : badLine('needs a number'));

  it('reads one record per non-blank line', () => {
    expect(readJsonLines(file('ok.jsonl', '1\n\n2\n  \n3'), '--data', num)).toEqual([1, 2, 3]);
  });

  it('names the flag, the file and the real line number (blank lines counted) of a bad line', () => {
    const f = file('bad.jsonl', '1\n\n\n{oops\n');
    expect(() => readJsonLines(f, '--data', num)).toThrow(`--data: ${f} line 4 is not JSON`);
    const g = file('wrong.jsonl', '1\n\n"x"\n');
    expect(() => readJsonLines(g, '--batch', num)).toThrow(`--batch: ${g} line 3 needs a number`);
    expect(() => readJsonLines(file('empty.jsonl', '\n\n'), '--data', num)).toThrow(/has no records/);
    expect(() => readJsonLines(join(dir, 'missing.jsonl'), '--data', num)).toThrow(/--data: cannot read .*missing\.jsonl/);
  });
});
