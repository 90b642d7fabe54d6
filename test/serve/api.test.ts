import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/api.ts';
import { PROMPTS, postRaw, startServer, type Running } from './serve-helpers.ts';

let s: Running;
beforeAll(async () => { s = await startServer({ maxPromptTokens: 64, bodyLimit: 16 * 1024 }); });
afterAll(async () => { await s?.server.shutdown(); });

// max_tokens 32 with the default block_length 32: a generation length of 32, dual cache,
// threshold 0.9 (the server's defaults, which are the CLI's).
const SOLO = { genLength: 32, blockLength: 32, cache: 'dual', threshold: 0.9 } as const;

describe('OpenAI-compatible answers', () => {
  it('a plain completion equals generate() of the public API', async () => {
    const r = await s.client.completions.create({ model: 'arith-tiny', prompt: PROMPTS[0], max_tokens: 32 });
    const solo = await generate(s.model, PROMPTS[0], SOLO);
    expect(r.object).toBe('text_completion');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].text).toBe(solo.text[0]);
    expect(r.choices[0].text.length).toBeGreaterThan(0);
    expect(r.choices[0].finish_reason).toBe(solo.tokens[0].includes(2) ? 'stop' : 'length');
    expect(r.usage?.completion_tokens).toBe(solo.generatedTokens);
    expect(r.usage?.prompt_tokens).toBeGreaterThan(5);
  });

  it('fastdllm options reach the decoder: prefix cache with factor, max_tokens rounded up to whole blocks', async () => {
    const r = await s.client.completions.create({ model: 'x', prompt: PROMPTS[2], max_tokens: 20, cache: 'prefix', factor: 1, block_length: 16 } as any);
    const solo = await generate(s.model, PROMPTS[2], { genLength: 32, blockLength: 16, cache: 'prefix', factor: 1 });
    expect(r.choices[0].text).toBe(solo.text[0]);
    expect((r as any).fastdllm.gen_length).toBe(32);
  });

  it('a streamed completion sends the same text in order and ends with [DONE]', async () => {
    // One token per step, so the text becomes final piece by piece.
    const solo = await generate(s.model, PROMPTS[0], { genLength: 32, blockLength: 32, cache: 'dual', steps: 32 });
    const stream = await s.client.completions.create({ model: 'x', prompt: PROMPTS[0], max_tokens: 32, steps: 32, stream: true, stream_options: { include_usage: true } } as any) as any as AsyncIterable<any>;
    const parts: string[] = [];
    let finish: string | null = null, usage: any;
    for await (const c of stream) {
      if (c.choices[0]?.text) parts.push(c.choices[0].text);
      if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
      if (c.usage) usage = c.usage;
    }
    expect(parts.join('')).toBe(solo.text[0]);
    expect(parts.length).toBeGreaterThan(1); // text arrives as it becomes final, not in one piece
    expect(finish).not.toBeNull();
    expect(usage.completion_tokens).toBe(solo.generatedTokens);
    const raw = await (await fetch(`${s.base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: PROMPTS[1], max_tokens: 32, stream: true }) })).text();
    expect(raw.trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('a chat completion goes through the chat template', async () => {
    const question = 'Tom has 3 apples and buys 4 more. How many apples does he have?';
    const r = await s.client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: question }], max_tokens: 32 });
    const solo = await generate(s.model, question, { ...SOLO, chat: true });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.choices[0].message.content).toBe(solo.text[0]);
    const plain = await generate(s.model, question, SOLO);
    expect(solo.text[0]).not.toBe(plain.text[0]); // the template changed the prompt
    const stream = await s.client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: question }], max_tokens: 32, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    expect(text).toBe(solo.text[0]);
  });

  it('stop strings cut the answer', async () => {
    const solo = await generate(s.model, PROMPTS[0], SOLO);
    const stop = solo.text[0].slice(3, 5);
    const r = await s.client.completions.create({ model: 'x', prompt: PROMPTS[0], max_tokens: 32, stop });
    expect(r.choices[0].text).toBe(solo.text[0].slice(0, solo.text[0].indexOf(stop)));
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  it('stream_options.denoise sends canvas snapshots', async () => {
    const r = await postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: PROMPTS[0], max_tokens: 32, stream: true, stream_options: { denoise: true } }));
    const events = String(r.json).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const snaps = events.filter((e) => e.denoise).map((e) => e.denoise.canvas as (string | null)[]);
    expect(snaps.length).toBeGreaterThan(1);
    expect(snaps[0]).toHaveLength(32);
    const masks = snaps.map((c) => c.filter((t) => t === null).length);
    expect(masks[0]).toBeGreaterThan(masks[masks.length - 1]); // the canvas fills in
  });

  it('GET /v1/models and /health', async () => {
    const models = await s.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['arith-tiny']);
    expect((await fetch(`${s.base}/health`)).status).toBe(200);
  });
});

describe('bad requests are 4xx with an OpenAI error body, and the server goes on', () => {
  const cases: [string, string, number, string | null][] = [
    ['malformed JSON', '{"prompt": "x",', 400, null],
    ['a wrong type', JSON.stringify({ prompt: 'x', max_tokens: 'ten' }), 400, 'max_tokens'],
    ['a string where a number goes (no coercion)', JSON.stringify({ prompt: 'x', temperature: '0.5' }), 400, 'temperature'],
    ['a missing prompt', JSON.stringify({ max_tokens: 8 }), 400, 'prompt'],
    ['threshold out of range', JSON.stringify({ prompt: 'x', threshold: 1.5 }), 400, 'threshold'],
    ['n = 2', JSON.stringify({ prompt: 'x', n: 2 }), 400, 'n'],
    ['an unknown cache', JSON.stringify({ prompt: 'x', cache: 'big' }), 400, 'cache'],
    ['steps that do not fit the blocks', JSON.stringify({ prompt: 'x', max_tokens: 64, steps: 3 }), 400, 'steps'],
    ['max_tokens over the limit', JSON.stringify({ prompt: 'x', max_tokens: 100000 }), 400, 'max_tokens'],
    ['an over-long prompt', JSON.stringify({ prompt: 'one two three four five six seven. '.repeat(40) }), 400, 'prompt'],
    ['an oversized body', JSON.stringify({ prompt: 'x'.repeat(20 * 1024) }), 413, null],
    ['a token id outside the vocabulary', JSON.stringify({ prompt: [5, 9999] }), 400, 'prompt'],
  ];
  for (const [name, body, status, param] of cases) {
    it(name, async () => {
      const r = await postRaw(s.base, '/v1/completions', body);
      expect(r.status).toBe(status);
      expect(typeof r.json.error.message).toBe('string');
      expect(r.json.error.type).toBe('invalid_request_error');
      if (param) expect(r.json.error.param).toBe(param);
      if (param) expect(r.json.error.message).toContain(param);
    });
  }
  it('chat messages with a wrong role name the field', async () => {
    const r = await postRaw(s.base, '/v1/chat/completions', JSON.stringify({ messages: [{ role: 'robot', content: 'hi' }] }));
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe('messages.0.role');
  });
  it('an unknown route is 404', async () => {
    const r = await fetch(`${s.base}/v1/nothing`);
    expect(r.status).toBe(404);
    expect((await r.json()).error.type).toBe('not_found_error');
  });
  it('after all of them the server still answers, and /metrics counted them', async () => {
    const r = await s.client.completions.create({ model: 'x', prompt: PROMPTS[1], max_tokens: 32 });
    expect(r.choices[0].finish_reason).toMatch(/stop|length/);
    const text = await (await fetch(`${s.base}/metrics`)).text();
    expect(text).toMatch(/fastdllm_requests_total\{route="completion",status="400"\} \d+/);
    expect(text).toMatch(/fastdllm_requests_total\{route="completion",status="413"\} 1/);
  });
});
