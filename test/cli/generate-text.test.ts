import { describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR, encodePrompts, loadModel } from '../../src/index.ts';
import { cli } from '../helpers/cli.ts';

/**
 * The README's main command: `fastdllm generate "<text>"` on the embedded model, its streamed
 * text, --chat, --visualize and --early-exit, each checked against another route to the same
 * tokens (token ids through --prompt-ids, the API's own encoding).
 */
const PROMPT = 'Ana has 12 pencils. She buys 7 more. How many pencils does Ana have now?';
const CPU = ['--device', 'cpu', '--gen-length', '32'];

function json(args: string[]): { tokens: number[][]; text: string[]; nfe: number } {
  const r = cli(['generate', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('fastdllm generate with a text prompt (embedded model)', async () => {
  const model = await loadModel(undefined, { device: 'cpu' });
  const idsOf = (chat: boolean) => encodePrompts(model, [PROMPT], { chat })[0].join(',');
  // The plain text run, shared by the tests below (each CLI process costs a Node.js start).
  let shared: ReturnType<typeof json> | undefined;
  const base = () => (shared ??= json([PROMPT, ...CPU]));

  it('decodes the text to the tokens of its encoding (chat format by default), and states the answer', () => {
    const text = base();
    const ids = json(['--prompt-ids', idsOf(true), ...CPU]);
    expect(text.tokens).toEqual(ids.tokens);
    expect(text.nfe).toBe(ids.nfe);
    // 12 + 7: the embedded model's answer, the sum worked out here.
    expect(text.text[0]).toContain(`The answer is ${12 + 7}.`);
  });

  it('streams exactly the final text to stdout', () => {
    const want = base().text[0];
    const r = cli(['generate', PROMPT, ...CPU]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${want}\n`);
  });

  it('--chat with --model applies the chat template (without it the prompt is encoded as is)', () => {
    const m = ['--model', DEFAULT_MODEL_DIR, ...CPU];
    expect(idsOf(true)).not.toBe(idsOf(false));
    const chat = json([...m, '--prompt', PROMPT, '--chat']);
    expect(chat.tokens).toEqual(json([...m, '--prompt-ids', idsOf(true)]).tokens);
    const plain = json([...m, '--prompt', PROMPT]);
    expect(plain.tokens).toEqual(json([...m, '--prompt-ids', idsOf(false)]).tokens);
    expect(plain.tokens).not.toEqual(chat.tokens);
  });

  it('--visualize prints one frame per forward, masks filling in, and ends in the final text', () => {
    const final = base();
    const r = cli(['generate', PROMPT, ...CPU, '--visualize']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const frames: string[] = [];
    lines.forEach((l, i) => { if (/^step \d+ \(/.test(l)) frames.push(lines[i + 1]); });
    expect(frames).toHaveLength(final.nfe);
    const masks = frames.map((f) => [...f].filter((c) => c === '·').length);
    masks.forEach((m, i) => { if (i > 0) expect(m, `frame ${i}`).toBeLessThan(masks[i - 1]); });
    expect(masks.at(-1)).toBe(0);
    expect(frames.at(-1)!.replaceAll('<|eos|>', '')).toBe(final.text[0]);
    expect(lines.at(-1)).toBe(final.text[0]);
  });

  it('--early-exit keeps the text and saves forwards', () => {
    const long = ['--device', 'cpu', '--gen-length', '64'];
    const full = json([PROMPT, ...long]);
    const early = json([PROMPT, ...long, '--early-exit']);
    expect(early.text).toEqual(full.text);
    // The answer ends in the first block: the second is never decoded.
    expect(early.nfe).toBeLessThan(full.nfe);
  });
});
