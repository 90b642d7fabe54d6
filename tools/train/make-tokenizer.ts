/**
 * Builds the word-level tokenizer of the tiny arithmetic model (assets/arith-tiny):
 * `tokenizer.json` + `tokenizer_config.json`, loadable by `@huggingface/tokenizers` (and by the
 * Rust `tokenizers` crate, whose format this is).
 *
 * Layout, chosen so that `decode(encode(text)) === text` for any printable-ASCII text:
 * - normalizer: every space becomes `▁` (as SentencePiece does), so spacing is carried by tokens;
 * - pre-tokenizer: `▁?[A-Za-z]+ | ▁?[0-9] | ▁?<any other char> | ▁` (numbers split into single
 *   digits, each word keeps its leading `▁`);
 * - model: BPE with no merges and `ignore_merges`, i.e. a word-level lookup: a piece in the
 *   vocabulary is one token, any other piece falls back to its single characters (all of
 *   printable ASCII, `▁`, `\n` and `\t` are in the vocabulary);
 * - decoder: `▁` back to a space, then concatenation.
 * The word vocabulary is `FROZEN_WORDS` (every multi-character piece seen in a sample of the
 * task's texts when the model was trained) plus any piece a later task version adds.
 *
 * Run: npx tsx tools/train/make-tokenizer.ts [outDir]   (default assets/arith-tiny)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Template } from '@huggingface/jinja';
import { arithSplit } from '../../src/eval/arith-task.ts';

/** Special tokens, in id order from 0. */
export const SPECIAL_TOKENS = {
  unk: '<|unk|>',
  bos: '<|bos|>',
  eos: '<|eos|>',
  mask: '<|mdm_mask|>',
} as const;

/**
 * The word vocabulary, frozen in id order (from id 101) since the shipped model was trained on
 * it: rebuilding must not move an id when the task's word frequencies change. Words a newer
 * generator uses that are missing here are appended after them.
 */
export const FROZEN_WORDS: readonly string[] = [
  '▁1', '▁=', '▁2', '▁3', '▁4', 'Answer', 'Question', '▁How', '▁The',
  '▁answer', '▁does', '▁has', '▁have', '▁is', '▁many', '▁now', '▁*', '▁5', '▁6', '▁+', '▁7', '▁8',
  '▁She', '▁9', '▁more', '▁-', '▁He', '▁Then', '▁them', '▁buys', '▁gives', '▁Each', '▁holds',
  '▁of', '▁she', '▁doubles', '▁triples', '▁he', '▁each', '▁in', '▁with', '▁finds', '▁sells', '▁to',
  '▁loses', '▁flowers', '▁rocks', '▁marbles', '▁cards', '▁stickers', '▁apples', '▁stamps',
  '▁books', '▁candies', '▁balloons', '▁eggs', '▁cookies', '▁shells', '▁coins', '▁Jack', '▁pencils',
  '▁Ana', '▁Ben', '▁toys', '▁Dana', '▁Fatima', '▁Tara', '▁Ivy', '▁Kim', '▁Priya', '▁Maya', '▁Leo',
  '▁Uma', '▁Grace', '▁Carlos', '▁Noah', '▁Zoe', '▁Hugo', '▁Sam', '▁Eli', '▁Omar', '▁bags',
  '▁packs', '▁jars', '▁boxes', '▁baskets', '▁her', '▁him', '▁bag', '▁pack', '▁jar', '▁box',
  '▁basket',
];

/** Word boundary marker (SentencePiece's). */
export const SPACE_MARK = '\u2581';
/** The pre-tokenizer's split pattern (Oniguruma and JavaScript read it alike). */
export const PIECE_PATTERN = `${SPACE_MARK}?[A-Za-z]+|${SPACE_MARK}?[0-9]|${SPACE_MARK}?[^A-Za-z0-9${SPACE_MARK}]|${SPACE_MARK}`;
/** The vocabulary is padded with reserved special tokens to a multiple of this. */
const VOCAB_MULTIPLE = 64;

/**
 * Prompt layout, one turn: `<|bos|>Question: {q}\nAnswer:`; the model writes the answer
 * (` 12 + 5 = 17. ... The answer is 17.`) then EOS. Earlier turns close with EOS and a newline.
 */
export const CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}" +
  "{% if message['role'] == 'user' %}Question: {{ message['content'] | trim }}\n" +
  "{% elif message['role'] == 'assistant' %}Answer: {{ message['content'] | trim }}{{ eos_token }}\n" +
  "{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";

/** Renders the one-turn prompt of a question, as `generate` does with the chat template. */
export function renderPrompt(question: string): string {
  return new Template(CHAT_TEMPLATE).render({
    messages: [{ role: 'user', content: question }],
    add_generation_prompt: true,
    bos_token: SPECIAL_TOKENS.bos,
    eos_token: SPECIAL_TOKENS.eos,
  });
}

/** Splits normalized text (spaces already `▁`) into pre-tokenizer pieces. */
export function pieces(normalized: string): string[] {
  return normalized.match(new RegExp(PIECE_PATTERN, 'gu')) ?? [];
}

/** The answer text as it follows the prompt (the template puts a space after `Answer:`). */
export function answerText(answer: string): string {
  return ` ${answer}`;
}

/** Builds both JSON objects. Deterministic: the same vocabulary on every run. */
export function buildTokenizer(): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const vocab: string[] = Object.values(SPECIAL_TOKENS);
  const chars: string[] = [SPACE_MARK, '\n', '\t'];
  for (let c = 0x21; c <= 0x7e; c++) chars.push(String.fromCharCode(c));
  vocab.push(...chars);

  const counts = new Map<string, number>();
  const texts: string[] = [];
  for (const split of ['train', 'heldout'] as const) {
    for (const p of arithSplit(split, split === 'train' ? 20_000 : 2_000)) {
      texts.push(renderPrompt(p.question).slice(SPECIAL_TOKENS.bos.length), answerText(p.answer));
    }
  }
  for (const t of texts) {
    for (const piece of pieces(t.replaceAll(' ', SPACE_MARK))) {
      if ([...piece].length > 1) counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  const frozen = new Set(FROZEN_WORDS);
  const newWords = [...counts.entries()]
    .filter(([w, n]) => n >= 2 && !frozen.has(w))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([w]) => w);
  vocab.push(...FROZEN_WORDS, ...newWords);
  const reserved: string[] = [];
  while ((vocab.length + reserved.length) % VOCAB_MULTIPLE !== 0) reserved.push(`<|reserved_${reserved.length}|>`);
  vocab.push(...reserved);

  const specials = [...Object.values(SPECIAL_TOKENS), ...reserved];
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => ({
      id: vocab.indexOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK },
    pre_tokenizer: {
      type: 'Split',
      pattern: { Regex: PIECE_PATTERN },
      behavior: 'Isolated',
      invert: false,
    },
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' },
        { type: 'Fuse' },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: SPECIAL_TOKENS.unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: [],
    },
  };
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: 4096,
    bos_token: SPECIAL_TOKENS.bos,
    eos_token: SPECIAL_TOKENS.eos,
    pad_token: SPECIAL_TOKENS.eos,
    unk_token: SPECIAL_TOKENS.unk,
    mask_token: SPECIAL_TOKENS.mask,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    chat_template: CHAT_TEMPLATE,
  };
  return { tokenizer, config };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const outDir = process.argv[2] ?? 'assets/arith-tiny';
  const { tokenizer, config } = buildTokenizer();
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'tokenizer.json'), JSON.stringify(tokenizer, null, 2) + '\n');
  writeFileSync(join(outDir, 'tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
  const vocab = (tokenizer.model as { vocab: Record<string, number> }).vocab;
  console.log(
    `wrote ${outDir}/tokenizer.json: vocab ${Object.keys(vocab).length}, ` +
      `eos ${vocab[SPECIAL_TOKENS.eos]}, mask ${vocab[SPECIAL_TOKENS.mask]}`,
  );
}
