import { describe, expect, it } from 'vitest';
import { cleanNumber, extractAnswer, isCorrect, parseGsm8kTarget } from '../../src/eval/extract.ts';

describe('gsm8k answer extraction', () => {
  it('prefers the CoT sentence', () => {
    expect(extractAnswer('12 + 5 = 17. 17 * 2 = 34. The answer is 34.')).toBe('34');
    expect(extractAnswer('The answer is 7. Then 99 more.')).toBe('7');
    expect(extractAnswer('So... The answer is 1,234.')).toBe('1234');
    expect(extractAnswer('The answer is -5.')).toBe('-5');
    expect(extractAnswer('The answer is 3.50')).toBe('3.50');
  });

  it('falls back to the last number, cleaned', () => {
    expect(extractAnswer('She pays $1,200 and then $35.')).toBe('35');
    expect(extractAnswer('total: $1,234.')).toBe('1234');
    expect(extractAnswer('It drops to -12 degrees')).toBe('-12');
    expect(extractAnswer('3 apples and 4 pears')).toBe('4');
    expect(extractAnswer('x = 7')).toBe('7');
    expect(extractAnswer('The answer is . so 8')).toBe('8');
    expect(extractAnswer('#### 72')).toBe('72');
  });

  it('returns null when there is no number', () => {
    expect(extractAnswer('')).toBeNull();
    expect(extractAnswer('no numbers here')).toBeNull();
    expect(extractAnswer('The answer is unknown.')).toBeNull();
  });

  it('cleans like lm-eval', () => {
    expect(cleanNumber('$1,000.')).toBe('1000');
    expect(cleanNumber('2.5')).toBe('2.5');
    expect(cleanNumber('-3,000')).toBe('-3000');
  });

  it('reads GSM8K targets', () => {
    expect(parseGsm8kTarget('Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72')).toBe(72);
    expect(parseGsm8kTarget('... #### 1,234')).toBe(1234);
    expect(parseGsm8kTarget('#### -4')).toBe(-4);
    expect(parseGsm8kTarget('no target')).toBeNull();
  });

  it('compares numerically', () => {
    expect(isCorrect('34', 34)).toBe(true);
    expect(isCorrect('34.0', 34)).toBe(true);
    expect(isCorrect('034', 34)).toBe(true);
    expect(isCorrect('-5', -5)).toBe(true);
    expect(isCorrect('35', 34)).toBe(false);
    expect(isCorrect(null, 34)).toBe(false);
    expect(isCorrect('.', 0)).toBe(false);
    expect(isCorrect(extractAnswer('The answer is 1,234.'), 1234)).toBe(true);
  });
});
