import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from '@huggingface/tokenizers';
import { arithSplit } from '../../src/eval/arith-task.ts';
import {
  answerText,
  buildTokenizer,
  pieces,
  renderPrompt,
  SPACE_MARK,
  SPECIAL_TOKENS,
} from '../../tools/train/make-tokenizer.ts';

const DIR = join(import.meta.dirname, '../../assets/arith-tiny');
const readJson = (f: string) => JSON.parse(readFileSync(join(DIR, f), 'utf8'));
const tokenizerJson = readJson('tokenizer.json');
const tokenizerConfig = readJson('tokenizer_config.json');
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);

describe('arith-tiny tokenizer', () => {
  it('loads through @huggingface/tokenizers with the special tokens its config names', () => {
    const ids = Object.fromEntries(
      (['eos_token', 'mask_token', 'bos_token', 'unk_token', 'pad_token'] as const).map((k) => {
        const content = tokenizerConfig[k] as string;
        const id = tokenizer.token_to_id(content);
        expect(id, k).toBeTypeOf('number');
        return [k, id!];
      }),
    );
    expect(tokenizerConfig.eos_token).toBe(SPECIAL_TOKENS.eos);
    expect(tokenizerConfig.mask_token).toBe(SPECIAL_TOKENS.mask);
    expect(ids.pad_token).toBe(ids.eos_token);
    // Special tokens are matched whole in text and dropped by skip_special_tokens.
    expect(tokenizer.encode(`${SPECIAL_TOKENS.mask}${SPECIAL_TOKENS.eos}`).ids).toEqual([ids.mask_token, ids.eos_token]);
    expect(tokenizer.decode([ids.bos_token, ids.mask_token, ids.eos_token], { skip_special_tokens: true })).toBe('');
    expect(typeof tokenizerConfig.chat_template).toBe('string');
  });

  it('agrees with the model config on vocabulary size and special ids', () => {
    const cfgPath = join(DIR, 'config.json');
    expect(existsSync(cfgPath)).toBe(true);
    const cfg = readJson('config.json');
    const vocabSize = Object.keys(tokenizerJson.model.vocab).length;
    expect(cfg.vocab_size).toBe(vocabSize);
    expect(cfg.embedding_size).toBe(vocabSize);
    expect(cfg.mask_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.mask_token));
    expect(cfg.eos_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.eos_token));
    expect(cfg.pad_token_id).toBe(tokenizer.token_to_id(tokenizerConfig.pad_token));
  });

  it('round-trips 2,000 task texts exactly, word-level, digits split, no unknowns', () => {
    const unk = tokenizer.token_to_id(SPECIAL_TOKENS.unk);
    const problems = [...arithSplit('train', 1_500, 11), ...arithSplit('heldout', 500, 11)];
    for (const p of problems) {
      for (const text of [p.question, p.answer, answerText(p.answer), renderPrompt(p.question)]) {
        const enc = tokenizer.encode(text);
        expect(enc.ids).not.toContain(unk);
        expect(tokenizer.decode(enc.ids)).toBe(text);
      }
      // One token per pre-tokenizer piece: whole words, single digits.
      const normalized = answerText(p.answer).replaceAll(' ', SPACE_MARK);
      const enc = tokenizer.encode(answerText(p.answer));
      expect(enc.tokens).toEqual(pieces(normalized));
      for (const t of enc.tokens) expect(t).not.toMatch(/\d\d/);
      // The prompt ends where the answer begins: tokenizing the two apart changes nothing.
      const prompt = tokenizer.encode(renderPrompt(p.question)).ids;
      const whole = tokenizer.encode(renderPrompt(p.question) + answerText(p.answer)).ids;
      expect(whole).toEqual([...prompt, ...enc.ids]);
    }
  });

  it('round-trips arbitrary printable ASCII through the character fallback', () => {
    const text = 'Hello, World!  (x_1 + y^2) / 3 = $4,567.89 @home\n\t~{|}`';
    expect(tokenizer.decode(tokenizer.encode(text).ids)).toBe(text);
  });

  it('is what tools/train/make-tokenizer.ts builds', () => {
    const { tokenizer: tj, config } = buildTokenizer();
    expect(JSON.parse(JSON.stringify(tj))).toEqual(tokenizerJson);
    expect(JSON.parse(JSON.stringify(config))).toEqual(tokenizerConfig);
  });
});
