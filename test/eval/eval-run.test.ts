import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, loadModel } from '../../src/api.ts';
import { arithSplit } from '../../src/eval/arith-task.ts';
import { extractAnswer, isCorrect } from '../../src/eval/extract.ts';
import { buildGsm8kPrompt } from '../../src/eval/gsm8k-prompt.ts';
import { cli } from '../helpers/cli.ts';

const ROW_KEYS = ['accuracy', 'cache', 'factor', 'mode', 'nfe', 'speedup', 'threshold', 'tokensPerForward', 'tokensPerSecond'];

describe('fastdllm eval: a short run on the embedded model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fdllm-eval-'));
  const N = 6;

  it('--task arith prints the JSON the issue specifies, writes --out and --chart, and its accuracy is a recount of the answers', async () => {
    // --out into a folder that does not exist yet: made before the run.
    const out = join(dir, 'new', 'r.json'), chart = join(dir, 'c.svg');
    const r = cli(['eval', '--task', 'arith', '--n', `${N}`, '--modes', 'baseline,dual+parallel', '--thresholds', '0.9,0.5', '--json', '--out', out, '--chart', chart, '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(Object.keys(res).sort()).toEqual(['n', 'rows', 'task']);
    expect(res.task).toBe('arith');
    expect(res.n).toBe(N);
    expect(res.rows.map((x: { mode: string; threshold: number | null; cache: string }) => [x.mode, x.threshold, x.cache])).toEqual([
      ['baseline', null, 'none'],
      ['+dual cache +parallel (threshold)', 0.9, 'dual'],
      ['+dual cache +parallel (threshold)', 0.5, 'dual'],
    ]);
    for (const row of res.rows) {
      expect(Object.keys(row).sort()).toEqual(ROW_KEYS);
      expect(row.accuracy).toBeGreaterThanOrEqual(0);
      expect(row.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isInteger(Math.round(row.accuracy * N * 1e9) / 1e9)).toBe(true);
      expect(row.tokensPerSecond).toBeGreaterThan(0);
    }
    const [base, t9, t5] = res.rows;
    // The baseline decodes one token per forward: gen length 64 -> 64 forwards per problem.
    expect(base.nfe).toBe(64);
    expect(base.tokensPerForward).toBe(1);
    expect(base.speedup).toBe(1);
    // Threshold decoding commits at least one token per forward, and more whenever several pass.
    for (const t of [t9, t5]) {
      expect(t.nfe).toBeLessThan(64);
      expect(t.tokensPerForward).toBeGreaterThan(1);
    }
    expect(t9.speedup).toBeCloseTo(t9.tokensPerSecond / base.tokensPerSecond, 6);

    // The baseline's accuracy, recounted through the API and the extractor.
    const model = await loadModel(undefined, { device: 'cpu' });
    let correct = 0;
    for (const p of arithSplit('heldout', N)) {
      const g = await generate(model, p.question, { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true });
      if (isCorrect(extractAnswer(g.text[0]), p.target)) correct++;
    }
    expect(base.accuracy).toBeCloseTo(correct / N, 12);

    const saved = JSON.parse(readFileSync(out, 'utf8'));
    expect(saved.rows).toEqual(res.rows);
    expect(saved.genLength).toBe(64);
    const svg = readFileSync(chart, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('</svg>');
    expect(svg).toMatch(/0\.5/);
    expect(svg).toMatch(/0\.9/);
  }, 120_000);

  it('--task gsm8k reads GSM8K records, takes the few-shot examples off the front, and scores the rest', () => {
    const data = join(dir, 'gsm.jsonl');
    const recs = [
      { question: 'Ana has 3 apples. She buys 2 more. How many apples does Ana have now?', answer: '3 + 2 = 5.\n#### 5' },
      { question: 'Ben has 7 coins. He loses 4. How many coins does Ben have now?', answer: 'He has 7 - 4 = 3.\n#### 3' },
      { question: 'Kim has 10 cards. She gives 1 to Leo. How many cards does Kim have now?', answer: '10 - 1 = 9\n#### 9' },
    ];
    writeFileSync(data, recs.map((x) => JSON.stringify(x)).join('\n') + '\n');
    const r = cli(['eval', '--task', 'gsm8k', '--data', data, '--shots', '1', '--n', '5', '--gen-length', '32', '--modes', 'baseline,prefix', '--json', '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.task).toBe('gsm8k');
    expect(res.n).toBe(2);
    expect(res.rows.map((x: { mode: string }) => x.mode)).toEqual(['baseline', '+prefix cache']);
    for (const row of res.rows) expect(row.nfe).toBe(32);
    // Every answer is scored: the tiny model gets none of these right, so each row's accuracy is 0.
    for (const row of res.rows) expect(row.accuracy).toBe(0);
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, JSON.stringify(recs[0]) + '\n\n{"question":"q"}\n');
    const e = cli(['eval', '--task', 'gsm8k', '--data', bad, '--shots', '0', '--json']);
    expect(e.code).toBe(2);
    expect(e.stderr).toContain(`--data: ${bad} line 3 needs "question" and "answer" strings`);
  });

  it('--task gsm8k scores each answer: its accuracy is a recount of the model\'s stated answers', async () => {
    // Arithmetic problems in GSM8K's record format: questions the embedded model can answer.
    const probs = arithSplit('heldout', 8);
    const data = join(dir, 'gsm-arith.jsonl');
    writeFileSync(data, probs.map((p) => JSON.stringify({ question: p.question, answer: `${p.answer}\n#### ${p.target}` })).join('\n') + '\n');
    const r = cli(['eval', '--task', 'gsm8k', '--data', data, '--shots', '0', '--chat', '--n', '8', '--gen-length', '64', '--modes', 'baseline', '--json', '--device', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const [row] = JSON.parse(r.stdout).rows;
    const model = await loadModel(undefined, { device: 'cpu' });
    let correct = 0;
    for (const p of probs) {
      const g = await generate(model, buildGsm8kPrompt(p.question, [], { cot: true }), { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true });
      // The stated answer, read here without the extractor under test: "The answer is N", else the last number.
      const stated = /The answer is (-?\d+)/.exec(g.text[0])?.[1] ?? g.text[0].match(/-?\d+/g)?.at(-1);
      if (Number(stated) === p.target) correct++;
    }
    // Some right and some wrong, so a scorer that counts all or none fails.
    expect(correct).toBeGreaterThan(0);
    expect(correct).toBeLessThan(probs.length);
    expect(row.accuracy).toBeCloseTo(correct / probs.length, 12);
  }, 120_000);
});
