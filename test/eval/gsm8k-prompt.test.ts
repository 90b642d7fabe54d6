import { describe, expect, it } from 'vitest';
import { buildGsm8kPrompt, toCotAnswer } from '../../src/eval/gsm8k-prompt.ts';
import { extractAnswer } from '../../src/eval/extract.ts';

const SHOTS = [
  { question: 'Tom has 3 cats and buys 2 more. How many cats?', answer: 'He has 3 + 2 = <<3+2=5>>5 cats.\n#### 5' },
  { question: 'A box has 4 eggs. How many in 2 boxes?', answer: '2 * 4 = <<2*4=8>>8 eggs.\n#### 8' },
];

describe('gsm8k few-shot prompt', () => {
  it('lays out lm-eval style shots', () => {
    const p = buildGsm8kPrompt('What is 1 + 1?', SHOTS, { n: 1 });
    expect(p).toBe(
      'Question: Tom has 3 cats and buys 2 more. How many cats?\n' +
        'Answer: He has 3 + 2 = <<3+2=5>>5 cats.\n#### 5\n\n' +
        'Question: What is 1 + 1?\nAnswer:',
    );
    expect(buildGsm8kPrompt('Q?', SHOTS, { n: 0 })).toBe('Question: Q?\nAnswer:');
    expect(buildGsm8kPrompt('Q?', SHOTS).split('Question:').length).toBe(4);
  });

  it('can rewrite shots into the CoT form', () => {
    expect(toCotAnswer(SHOTS[0].answer)).toBe('He has 3 + 2 = 5 cats. The answer is 5.');
    const p = buildGsm8kPrompt('Q?', SHOTS, { cot: true });
    expect(p).toContain('Answer: 2 * 4 = 8 eggs. The answer is 8.\n\nQuestion: Q?\nAnswer:');
    expect(extractAnswer(toCotAnswer('x\n#### 1,000'))).toBe('1000');
  });

  it('rejects a bad shot count', () => {
    expect(() => buildGsm8kPrompt('Q?', SHOTS, { n: 3 })).toThrow(/3 shots/);
    expect(() => buildGsm8kPrompt('Q?', SHOTS, { n: -1 })).toThrow();
  });
});
