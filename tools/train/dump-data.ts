/**
 * Writes the arithmetic task as token ids for the Python trainer (tools/train/train.py), so
 * that Python never re-implements the problem generator, the chat template or the tokenizer.
 *
 * Output (default tools/train/data/):
 * - `train.jsonl.gz`: one `{"prompt":[ids],"answer":[ids]}` per line; the prompt is the
 *   rendered chat template (`<|bos|>Question: ...\nAnswer:`), the answer is ` 12 + 5 = 17. ...
 *   The answer is N.` WITHOUT EOS (the trainer pads the answer region with EOS to its gen length);
 * - `heldout.jsonl`: the same plus `"target": N`;
 * - `meta.json`: the vocabulary (id -> token), special ids and sizes.
 *
 * Run: npx tsx tools/train/dump-data.ts [--train N] [--heldout N] [--out DIR]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { arithSplit, DEFAULT_SEED, type ArithProblem } from '../../src/eval/arith-task.ts';
import { answerText, renderPrompt, SPECIAL_TOKENS } from './make-tokenizer.ts';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '400000' },
    heldout: { type: 'string', default: '1000' },
    out: { type: 'string', default: 'tools/train/data' },
    assets: { type: 'string', default: 'assets/arith-tiny' },
  },
});

const tokenizerJson = JSON.parse(readFileSync(join(values.assets!, 'tokenizer.json'), 'utf8'));
const tokenizerConfig = JSON.parse(readFileSync(join(values.assets!, 'tokenizer_config.json'), 'utf8'));
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
const vocab: Record<string, number> = tokenizerJson.model.vocab;
const id = (t: string): number => vocab[t];
const unk = id(SPECIAL_TOKENS.unk);

/** Encodes one problem; checks the round trip and that prompt + answer tokenize as a whole. */
function encodeProblem(p: ArithProblem): { prompt: number[]; answer: number[] } {
  const promptText = renderPrompt(p.question);
  const answer = answerText(p.answer);
  const prompt: number[] = tokenizer.encode(promptText).ids;
  const ans: number[] = tokenizer.encode(answer).ids;
  const whole: number[] = tokenizer.encode(promptText + answer).ids;
  const joined = [...prompt, ...ans];
  if (whole.length !== joined.length || whole.some((t, i) => t !== joined[i])) {
    throw new Error(`prompt/answer boundary changes tokenization: ${p.question}`);
  }
  if (prompt.includes(unk) || ans.includes(unk) || tokenizer.decode(ans) !== answer) {
    throw new Error(`tokenizer round trip failed: ${p.answer}`);
  }
  return { prompt, answer: ans };
}

const nTrain = Number(values.train);
const nHeldout = Number(values.heldout);
mkdirSync(values.out!, { recursive: true });

const stats = { maxPrompt: 0, maxAnswer: 0, sumPrompt: 0, n: 0 };
const note = (e: { prompt: number[]; answer: number[] }) => {
  stats.maxPrompt = Math.max(stats.maxPrompt, e.prompt.length);
  stats.maxAnswer = Math.max(stats.maxAnswer, e.answer.length);
  stats.sumPrompt += e.prompt.length;
  stats.n++;
};

const trainLines = arithSplit('train', nTrain).map((p) => {
  const e = encodeProblem(p);
  note(e);
  return JSON.stringify(e);
});
writeFileSync(join(values.out!, 'train.jsonl.gz'), gzipSync(trainLines.join('\n') + '\n', { level: 9 }));

const heldoutLines = arithSplit('heldout', nHeldout).map((p) => {
  const e = encodeProblem(p);
  note(e);
  return JSON.stringify({ ...e, target: p.target });
});
writeFileSync(join(values.out!, 'heldout.jsonl'), heldoutLines.join('\n') + '\n');

const idToToken: string[] = [];
for (const [t, i] of Object.entries(vocab)) idToToken[i] = t;
const meta = {
  seed: DEFAULT_SEED,
  n_train: nTrain,
  n_heldout: nHeldout,
  vocab_size: idToToken.length,
  bos_token_id: id(SPECIAL_TOKENS.bos),
  eos_token_id: id(SPECIAL_TOKENS.eos),
  pad_token_id: id(SPECIAL_TOKENS.eos),
  mask_token_id: id(SPECIAL_TOKENS.mask),
  unk_token_id: unk,
  special_ids: tokenizerJson.added_tokens.map((t: { id: number }) => t.id),
  max_prompt_len: stats.maxPrompt,
  max_answer_len: stats.maxAnswer,
  mean_prompt_len: stats.sumPrompt / stats.n,
  id_to_token: idToToken,
};
writeFileSync(join(values.out!, 'meta.json'), JSON.stringify(meta) + '\n');
console.log(
  `wrote ${values.out}: ${nTrain} train, ${nHeldout} heldout; prompt max ${stats.maxPrompt} ` +
    `mean ${meta.mean_prompt_len.toFixed(1)}, answer max ${stats.maxAnswer} (EOS excluded)`,
);
