import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';

// `generate --batch FILE.jsonl` with text prompts, through the CLI process: every row must decode
// exactly what the same prompt decodes alone. (Text records were once taken for error messages,
// because the JSONL reader treated any string its parser returned as one.)
describe('generate --batch with text prompts', () => {
  const prompts = [
    'Ana has 3 pencils. She buys 4 more. How many pencils does Ana have now?',
    'Tom has 12 apples. He eats 5 of them. Then he buys 9 more. How many apples does Tom have now?',
  ];
  const flags = ['--device', 'cpu', '--gen-length', '32', '--block-length', '32', '--json'];
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-batch-text-'));

  it('decodes each text row as it decodes alone (the embedded model)', () => {
    const alone = prompts.map((p) => {
      const r = cli(['generate', '--prompt', p, ...flags]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { tokens: number[][]; text: string[] };
    });
    const file = join(dir, 'text.jsonl');
    writeFileSync(file, prompts.map((p) => JSON.stringify({ prompt: p })).join('\n') + '\n');
    const r = cli(['generate', '--batch', file, ...flags]);
    expect(r.code, r.stderr).toBe(0);
    const batch = JSON.parse(r.stdout) as { tokens: number[][]; text: string[] };
    expect(batch.tokens).toEqual(alone.map((a) => a.tokens[0]));
    expect(batch.text).toEqual(alone.map((a) => a.text[0]));
    // Not a vacuous match: the two prompts decode to different answers.
    expect(batch.text[0]).not.toEqual(batch.text[1]);
  });

  it('mixes text and id rows, and still refuses a line that is neither, naming it', () => {
    const ok = join(dir, 'mixed.jsonl');
    writeFileSync(ok, `${JSON.stringify({ prompt: prompts[0] })}\n${JSON.stringify({ promptIds: [1, 2, 3] })}\n`);
    const r = cli(['generate', '--batch', ok, ...flags]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).tokens).toHaveLength(2);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify({ prompt: prompts[0] })}\n${JSON.stringify({ prompt: 7 })}\n`);
    const b = cli(['generate', '--batch', bad, ...flags]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`--batch: ${bad} line 2 needs "prompt" (text) or "promptIds" (integers)`);
  });
});
