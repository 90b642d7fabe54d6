/**
 * Text side of a model directory: `tokenizer.json` (through the pure-JS
 * `@huggingface/tokenizers`), the chat template (`@huggingface/jinja`), and streaming
 * detokenization that never emits half a character.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, readJsonObject } from './config.ts';
import { CheckpointError } from './errors.ts';

/** One chat turn. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** What the rest of fastdllm needs from a tokenizer. */
export interface TextTokenizer {
  /** Token ids of `text`; special tokens (BOS etc., per the post-processor) added unless `addSpecialTokens: false`. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Text of `ids` (empty for no ids). */
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /** Id of a token string (e.g. `<|mdm_mask|>`), or undefined. */
  tokenId(token: string): number | undefined;
  /** Render the chat template of `tokenizer_config.json`; throws when the model has none. */
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean; extra?: Record<string, unknown> }): string;
  /** Special token strings from `tokenizer_config.json` (`bos_token`, `eos_token`, ...), where set. */
  readonly specialTokens: Readonly<Record<string, string>>;
}

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** A special token entry is a string or a serialized AddedToken `{content: ...}`. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

/** Where the chat template comes from: tokenizer_config.json, else chat_template.jinja / .json. */
function findChatTemplate(dir: string, config: Record<string, unknown>, configPath: string): { source: string; text: string } | null {
  const t = config.chat_template;
  if (typeof t === 'string') return { source: configPath, text: t };
  if (Array.isArray(t)) {
    // Named templates [{name, template}]: transformers uses "default".
    const named = t.filter((e): e is { name: string; template: string } =>
      typeof e === 'object' && e !== null && typeof e.name === 'string' && typeof e.template === 'string');
    const pick = named.find((e) => e.name === 'default') ?? (named.length === 1 ? named[0] : undefined);
    if (!pick) throw new CheckpointError(`${configPath}: 'chat_template' is a list without a 'default' entry`, configPath, 'chat_template');
    return { source: configPath, text: pick.template };
  }
  const jinja = path.join(dir, 'chat_template.jinja');
  if (fs.existsSync(jinja)) return { source: jinja, text: fs.readFileSync(jinja, 'utf8') };
  const json = path.join(dir, 'chat_template.json');
  if (fs.existsSync(json)) {
    const v = readJsonFile(json, 'chat_template.json') as { chat_template?: unknown } | null;
    if (v && typeof v.chat_template === 'string') return { source: json, text: v.chat_template };
  }
  return null;
}

/**
 * The tokenizer of the model in `dir`, or null when there is no `tokenizer.json`.
 * `tokenizer_config.json` is optional (without it there is no chat template).
 */
export async function loadTokenizer(dir: string): Promise<TextTokenizer | null> {
  const tokPath = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokPath)) return null;
  const tokJson = readJsonObject(tokPath, 'tokenizer.json');
  const cfgPath = path.join(dir, 'tokenizer_config.json');
  const config = fs.existsSync(cfgPath) ? readJsonObject(cfgPath, 'tokenizer_config.json') : {};
  // Imported here so code paths that never tokenize do not load the libraries.
  const [{ Tokenizer }, { Template }] = await Promise.all([import('@huggingface/tokenizers'), import('@huggingface/jinja')]);
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(tokJson, config);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CheckpointError(`${tokPath}: cannot build tokenizer (${why})`, tokPath, undefined, { cause: e });
  }
  const specialTokens: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const s = tokenString(config[key]);
    if (s !== undefined) specialTokens[key] = s;
  }
  const templateSrc = findChatTemplate(dir, config, cfgPath);
  let template: { render(items: Record<string, unknown>): string } | undefined;

  return {
    specialTokens,
    encode(text, opts = {}) {
      return tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
    },
    decode(ids, opts = {}) {
      if (ids.length === 0) return '';
      return tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? false });
    },
    tokenId(token) {
      return tok.token_to_id(token);
    },
    applyChatTemplate(messages, opts = {}) {
      if (!templateSrc) {
        throw new CheckpointError(`${dir}: the model has no chat template (no 'chat_template' in tokenizer_config.json, no chat_template.jinja)`, dir, 'chat_template');
      }
      if (!template) {
        try {
          template = new Template(templateSrc.text);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          throw new CheckpointError(`${templateSrc.source}: chat template does not parse (${why})`, templateSrc.source, 'chat_template', { cause: e });
        }
      }
      try {
        return template.render({
          ...specialTokens,
          ...opts.extra,
          messages,
          add_generation_prompt: opts.addGenerationPrompt ?? false,
        });
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new Error(`chat template of ${templateSrc.source} failed: ${why}`, { cause: e });
      }
    },
  };
}

/**
 * Turns a growing list of committed token ids into newly committed text.
 *
 * Each `push` gets the WHOLE committed id list so far (which must extend the previous one)
 * and returns only the new text. Text ending in U+FFFD is held back: a multi-byte character
 * split across tokens decodes to U+FFFD until its last byte arrives. New text is decoded
 * together with the previously emitted token window, so decoders that strip a leading space
 * or clean up spaces see the same context they will see in the full decode.
 */
export class StreamingDetokenizer {
  private readonly decodeFn: (ids: number[]) => string;
  private ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private emitted = '';

  constructor(tokenizer: TextTokenizer | ((ids: number[]) => string), opts: { skipSpecialTokens?: boolean } = {}) {
    const skip = opts.skipSpecialTokens ?? true;
    this.decodeFn = typeof tokenizer === 'function'
      ? tokenizer
      : (ids) => (ids.length === 0 ? '' : tokenizer.decode(ids, { skipSpecialTokens: skip }));
  }

  /** New text committed by `ids` (the full committed list), possibly ''. */
  push(ids: readonly number[]): string {
    if (ids.length < this.ids.length || this.ids.some((id, i) => ids[i] !== id)) {
      throw new Error('StreamingDetokenizer.push: committed ids must only grow (a committed token changed or vanished)');
    }
    if (ids.length === this.ids.length) return '';
    this.ids = ids.slice();
    const prefixText = this.decodeFn(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decodeFn(this.ids.slice(this.prefixOffset));
    if (fullText.length > prefixText.length && !fullText.endsWith('\uFFFD')) {
      const delta = fullText.slice(prefixText.length);
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      this.emitted += delta;
      return delta;
    }
    return '';
  }

  /** Whatever is still held back (at the end of generation), U+FFFD included. */
  flush(): string {
    if (this.readOffset === this.ids.length) return '';
    const prefixText = this.decodeFn(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decodeFn(this.ids.slice(this.prefixOffset));
    const delta = fullText.slice(prefixText.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    this.emitted += delta;
    return delta;
  }

  /** All text returned so far. */
  text(): string {
    return this.emitted;
  }
}
