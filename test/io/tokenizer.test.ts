import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/io/errors.ts';
import { loadTokenizer, StreamingDetokenizer, type TextTokenizer } from '../../src/io/tokenizer.ts';
import { expectCheckpointError, tempDir } from './helpers.ts';
import { bytesToUnicode } from '../helpers/byte-tokenizer.ts';

const tmp = tempDir('fastdllm-tok-');
afterAll(tmp.cleanup);
let n = 0;

const BYTE = bytesToUnicode();
const MERGES = ['h e', 'l l', 'he ll', 'hell o', `${BYTE[32]} w`];
const SPECIAL = ['<|bos|>', '<|eos|>', '<|mask|>'];

/** A tiny byte-level BPE tokenizer: ids 0-255 are bytes, then merges, then special tokens. */
function tokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE.forEach((c, b) => (vocab[c] = b));
  let next = 256;
  for (const m of MERGES) vocab[m.replace(' ', '')] = next++;
  const added = SPECIAL.map((content, i) => ({
    id: next + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  }));
  const bos = next;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<|bos|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<|bos|>': { id: '<|bos|>', ids: [bos], tokens: ['<|bos|>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab, merges: MERGES,
    },
  };
}

const TEMPLATE =
  "{% for m in messages %}{% if loop.first %}{{ bos_token }}{% endif %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}" +
  '{% if add_generation_prompt %}<|assistant|>{% endif %}';

function modelDir(opts: { config?: Record<string, unknown> | null; tokenizer?: unknown; files?: Record<string, string> } = {}): string {
  const dir = path.join(tmp.dir, `m${n++}`);
  fs.mkdirSync(dir);
  const tok = opts.tokenizer ?? tokenizerJson();
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), typeof tok === 'string' ? tok : JSON.stringify(tok));
  const config = opts.config === undefined
    ? { bos_token: { content: '<|bos|>', special: true }, eos_token: '<|eos|>', mask_token: '<|mask|>', chat_template: TEMPLATE, clean_up_tokenization_spaces: false }
    : opts.config;
  if (config !== null) fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config));
  for (const [name, text] of Object.entries(opts.files ?? {})) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

async function load(dir: string): Promise<TextTokenizer> {
  const t = await loadTokenizer(dir);
  expect(t).not.toBeNull();
  return t!;
}

describe('loadTokenizer', () => {
  it('encodes, decodes and looks up tokens', async () => {
    const tok = await load(modelDir());
    const bos = tok.tokenId('<|bos|>')!;
    expect(bos).toBe(256 + MERGES.length);
    expect(tok.tokenId('<|mask|>')).toBe(bos + 2);
    expect(tok.tokenId('no-such-token')).toBeUndefined();
    const ids = tok.encode('hello world');
    expect(ids[0]).toBe(bos);
    expect(ids[1]).toBe(tok.tokenId('hello'));
    expect(ids[2]).toBe(tok.tokenId(`${BYTE[32]}w`));
    expect(tok.encode('hello world', { addSpecialTokens: false })).toEqual(ids.slice(1));
    expect(tok.decode(ids)).toBe('<|bos|>hello world');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hello world');
    expect(tok.decode([])).toBe('');
    // A two-byte character is two tokens here (no merge for it).
    const e = tok.encode('é', { addSpecialTokens: false });
    expect(e).toEqual([0xc3, 0xa9]);
    expect(tok.decode([0xc3])).toBe('\uFFFD');
    expect(tok.specialTokens).toEqual({ bos_token: '<|bos|>', eos_token: '<|eos|>', mask_token: '<|mask|>' });
  });

  it('renders the chat template with the special tokens', async () => {
    const tok = await load(modelDir());
    const msgs = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Yo' }];
    expect(tok.applyChatTemplate(msgs)).toBe('<|bos|><|user|>Hi<|eos|><|assistant|>Yo<|eos|>');
    expect(tok.applyChatTemplate(msgs.slice(0, 1), { addGenerationPrompt: true })).toBe('<|bos|><|user|>Hi<|eos|><|assistant|>');
    const ids = tok.encode(tok.applyChatTemplate(msgs.slice(0, 1)), { addSpecialTokens: false });
    expect(ids[0]).toBe(tok.tokenId('<|bos|>'));
  });

  it('finds chat_template.jinja and named template lists', async () => {
    const a = await load(modelDir({ config: { eos_token: '</s>' }, files: { 'chat_template.jinja': '{{ messages[0].content }}{{ eos_token }}' } }));
    expect(a.applyChatTemplate([{ role: 'user', content: 'q' }])).toBe('q</s>');
    const b = await load(modelDir({ config: { chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ messages|length }}' }] } }));
    expect(b.applyChatTemplate([{ role: 'user', content: 'q' }])).toBe('D1');
  });

  it('returns null without tokenizer.json; works without tokenizer_config.json', async () => {
    const empty = path.join(tmp.dir, `empty${n++}`);
    fs.mkdirSync(empty);
    expect(await loadTokenizer(empty)).toBeNull();
    const tok = await load(modelDir({ config: null }));
    expect(tok.decode(tok.encode('hello', { addSpecialTokens: false }))).toBe('hello');
  });

  it('errors name the file', async () => {
    const noTemplate = await load(modelDir({ config: { eos_token: '</s>' } }));
    const e = expectCheckpointError(() => noTemplate.applyChatTemplate([{ role: 'user', content: 'x' }]), 'no chat template');
    expect(e.tensor).toBe('chat_template');
    const badTemplate = modelDir({ config: { chat_template: '{% for %}' } });
    const bt = await load(badTemplate);
    expectCheckpointError(() => bt.applyChatTemplate([]), path.join(badTemplate, 'tokenizer_config.json'), 'does not parse');
    const raising = await load(modelDir({ config: { chat_template: "{{ raise_exception('roles must alternate') }}" } }));
    expect(() => raising.applyChatTemplate([])).toThrow(/roles must alternate/);

    const badJson = modelDir({ tokenizer: '{"model": ' });
    await expect(loadTokenizer(badJson)).rejects.toThrow(path.join(badJson, 'tokenizer.json'));
    await expect(loadTokenizer(badJson)).rejects.toBeInstanceOf(CheckpointError);
    const badModel = modelDir({ tokenizer: { model: { type: 'Nope' } } });
    await expect(loadTokenizer(badModel)).rejects.toThrow(path.join(badModel, 'tokenizer.json'));
    const badCfg = modelDir();
    fs.writeFileSync(path.join(badCfg, 'tokenizer_config.json'), '{,}');
    await expect(loadTokenizer(badCfg)).rejects.toThrow(path.join(badCfg, 'tokenizer_config.json'));
  });
});

describe('StreamingDetokenizer', () => {
  it('never emits half a character (real byte-level tokenizer)', async () => {
    const tok = await load(modelDir());
    const text = 'hello wörld 😀 € hello';
    const ids = tok.encode(text, { addSpecialTokens: false });
    expect(ids.length).toBeGreaterThan(text.length / 2);
    const s = new StreamingDetokenizer(tok);
    const pieces: string[] = [];
    for (let i = 1; i <= ids.length; i++) pieces.push(s.push(ids.slice(0, i)));
    pieces.push(s.flush());
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.join('')).toBe(text);
    expect(s.text()).toBe(text);
    // The four bytes of 😀 are held back until the last arrives.
    expect(pieces.filter((p) => p === '').length).toBeGreaterThanOrEqual(3 + 1 + 2 + 1);
  });

  it('accepts several tokens per push, and skips special tokens by default', async () => {
    const tok = await load(modelDir());
    const ids = tok.encode('hello 😀 world');
    const s = new StreamingDetokenizer(tok);
    expect(s.push(ids.slice(0, 2))).toBe('hello'); // <|bos|> skipped
    expect(s.push(ids.slice(0, 2))).toBe('');
    expect(s.push(ids.slice(0, 4))).toBe(''); // ' ' + first byte of 😀: held back whole
    const rest = s.push(ids);
    expect(rest).toBe(' 😀 world');
    expect(s.flush()).toBe('');
  });

  it('synthetic UTF-8 byte decoder: all splits of multi-byte characters', () => {
    const text = 'aé€😀b𝄞';
    const bytes = [...Buffer.from(text, 'utf8')];
    const decode = (ids: number[]): string => Buffer.from(ids).toString('utf8');
    const s = new StreamingDetokenizer(decode);
    const out: string[] = [];
    for (let i = 1; i <= bytes.length; i++) out.push(s.push(bytes.slice(0, i)));
    for (const p of out) expect(p).not.toContain('\uFFFD');
    expect(out.join('')).toBe(text);
    expect(out).toEqual(['a', '', 'é', '', '', '€', '', '', '', '😀', 'b', '', '', '', '𝄞']);
  });

  it('keeps word-initial spaces that a decoder strips at the start of its input', () => {
    const words = ['▁hello', '▁world', '!', '▁again'];
    const decode = (ids: number[]): string => ids.map((i) => words[i]).join('').replace(/▁/g, ' ').replace(/^ /, '');
    const s = new StreamingDetokenizer(decode);
    const out = [0, 1, 2, 3].map((k) => s.push([0, 1, 2, 3].slice(0, k + 1)));
    expect(out).toEqual(['hello', ' world', '!', ' again']);
  });

  it('flush emits an incomplete tail; pushes must extend the committed ids', () => {
    const decode = (ids: number[]): string => Buffer.from(ids).toString('utf8');
    const s = new StreamingDetokenizer(decode);
    expect(s.push([0x61, 0xe2, 0x82])).toBe('');
    expect(s.flush()).toBe('a\uFFFD');
    expect(() => s.push([0x61])).toThrow(/only grow/);
    expect(() => s.push([0x62, 0xe2, 0x82, 0x41])).toThrow(/only grow/);
    expect(s.push([0x61, 0xe2, 0x82, 0x41])).toBe('A');
  });
});
