import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR, encodePrompts, generate, generateStream, loadModel, type GenerateOptions } from '../../src/index.ts';
import { byteTokenizerJson } from '../helpers/byte-tokenizer.ts';

/**
 * generateStream's text events on output full of two-byte characters, each split across two
 * tokens: the events must concatenate to the final text and never carry half a character.
 * The tokenizer is made for the model's own output: token ids are fixed first (ids in,
 * ids out), then each id is given bytes so that wherever it is followed by another in that
 * output, it ends with a UTF-8 lead byte and its successor starts with the continuation byte.
 */
const OPTS: GenerateOptions = { genLength: 32, blockLength: 8, cache: 'dual', threshold: 0.7 };

/** open[id]: the token ends with a lead byte; close[id]: it starts with a continuation byte. */
function splitPlan(seq: number[], vocab: number): { open: boolean[]; close: boolean[] } {
  // Union-find over "open(id)" (0..V-1), "close(id)" (V..2V-1) and FALSE (2V).
  const parent = Array.from({ length: 2 * vocab + 1 }, (_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x])));
  const join = (a: number, b: number) => { parent[find(a)] = find(b); };
  const FALSE = 2 * vocab;
  for (let i = 0; i + 1 < seq.length; i++) join(seq[i], vocab + seq[i + 1]); // lead needs a continuation
  join(vocab + seq[0], FALSE); // nothing before the first token
  join(seq.at(-1)!, FALSE); // nothing after the last
  const t = (x: number) => find(x) !== find(FALSE);
  return { open: Array.from({ length: vocab }, (_, i) => t(i)), close: Array.from({ length: vocab }, (_, i) => t(vocab + i)) };
}

describe('generateStream text events', () => {
  it('concatenate to the final text, never split a multi-byte character', async () => {
    // The embedded model (LLaDA architecture): its answers are varied token sequences, which
    // leave room to split characters (a random fixture model repeats one token, and a token
    // followed by itself cannot end in half a character when it also starts the output).
    const src = DEFAULT_MODEL_DIR;
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-stream-'));
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(src, f), join(dir, f));
    const prompt = encodePrompts(await loadModel(src, { device: 'cpu' }), ['Ben has 9 cards. He gets 6 more. How many cards does Ben have now?'], { chat: true })[0];
    const bare = await loadModel(dir, { device: 'cpu' });
    const { eosId, maskId, vocabSize } = bare.host.config;
    const out = (await generate(bare, prompt, OPTS)).tokens[0];
    const seq = out.indexOf(eosId) < 0 ? out : out.slice(0, out.indexOf(eosId));
    expect(seq.length).toBeGreaterThan(8);

    const { open, close } = splitPlan(seq, vocabSize);
    const bytes = Array.from({ length: vocabSize }, (_, id) => Uint8Array.from([
      ...(close[id] ? [0x80 + (id % 64)] : []), ...Buffer.from(`t${id}`), ...(open[id] ? [0xc2 + (id % 30)] : []),
    ]));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson(bytes, { [eosId]: '<eos>', [maskId]: '<mask>' })));
    const model = await loadModel(dir, { device: 'cpu' });

    const events: string[] = [];
    let final: string | undefined;
    for await (const ev of generateStream(model, prompt, OPTS)) {
      if (ev.type === 'text') events.push(ev.text);
      if (ev.type === 'done') final = ev.result.text[0];
    }
    // The final text is the tokens' bytes, decoded here without the tokenizer.
    const want = Buffer.concat(seq.map((id) => bytes[id])).toString('utf8');
    expect(want).not.toContain('\uFFFD');
    const split = seq.slice(0, -1).filter((id) => open[id]).length;
    expect(split, 'characters split across two tokens').toBeGreaterThan(2);
    expect([...want].filter((c) => c.codePointAt(0)! > 0x7f)).toHaveLength(split);
    expect(final).toBe(want);
    expect(events.length).toBeGreaterThan(1);
    expect(events.join('')).toBe(final);
    for (const e of events) expect(e, JSON.stringify(events)).not.toContain('\uFFFD');
  });
});
