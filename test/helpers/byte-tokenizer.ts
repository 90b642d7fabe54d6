/**
 * tokenizer.json files built from token byte strings, for tests that need exact control over
 * what each id decodes to (a token may hold half of a UTF-8 character).
 */

/** GPT-2's byte → printable character map, as the ByteLevel pre-tokenizer and decoder use. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + extra++);
    }
  }
  const map: string[] = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCharCode(cs[i])));
  return map;
}

/**
 * A byte-level BPE tokenizer.json whose id i decodes to exactly `tokens[i]`'s bytes; ids in
 * `special` are special tokens (skipped when decoding) named by their value.
 */
export function byteTokenizerJson(tokens: Uint8Array[], special: Record<number, string>): Record<string, unknown> {
  const map = bytesToUnicode();
  const vocab: Record<string, number> = {};
  tokens.forEach((b, id) => { vocab[special[id] ?? [...b].map((x) => map[x]).join('')] = id; });
  const added = Object.entries(special).map(([id, content]) => ({ id: Number(id), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}
