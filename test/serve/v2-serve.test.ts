import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, type Model } from '../../src/api.ts';
import { createServer, type Server } from '../../src/serve/server.ts';
import { v2ModelWithTokenizer } from '../helpers/v2-fixtures.ts';
import { postRaw, startServer } from './serve-helpers.ts';

/** A server of the v2_s5 fixture model (Fast_dLLM_Qwen config; eos 2 is its stop, mask 317). */
let server: Server, base: string, client: OpenAI, model: Model;
beforeAll(async () => {
  ({ model } = await v2ModelWithTokenizer('v2_s5', 2, 317));
  server = createServer(model, {});
  base = await server.app.listen({ host: '127.0.0.1', port: 0 });
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60_000 });
});
afterAll(async () => { await server?.shutdown(); });

const PROMPT = Array.from({ length: 45 }, (_, i) => (i * 37 + 5) % 300);

describe('the server serves Fast-dLLM v2 models', () => {
  it('a completion with the defaults (no v1 cache) equals generate() with v2\'s defaults', async () => {
    const r = await client.completions.create({ model: 'v2', prompt: PROMPT, max_tokens: 64 });
    const solo = await generate(model, PROMPT, { genLength: 64 });
    expect(solo.text[0].length).toBeGreaterThan(0);
    expect(r.choices[0].text).toBe(solo.text[0]);
    expect((r as any).fastdllm.nfe).toBe(solo.nfe);
  });

  it('small_block and block_cache reach the routine; a streamed answer concatenates to the same text', async () => {
    const o = { model: 'v2', prompt: PROMPT, max_tokens: 40, small_block: 4, block_cache: true, threshold: 0.5 } as any;
    const solo = await generate(model, PROMPT, { genLength: 64, smallBlock: 4, blockCache: true, threshold: 0.5 });
    const plain = await generate(model, PROMPT, { genLength: 64, threshold: 0.5 });
    expect(solo.nfe).not.toBe(plain.nfe); // the options change the decode, so reaching it is observable
    const r = await client.completions.create(o);
    expect(r.choices[0].text).toBe(solo.text[0]);
    expect((r as any).fastdllm.nfe).toBe(solo.nfe);
    let streamed = '', chunks = 0;
    for await (const c of await client.completions.create({ ...o, stream: true } as OpenAI.CompletionCreateParamsStreaming)) { streamed += c.choices[0]?.text ?? ''; chunks++; }
    expect(streamed).toBe(solo.text[0]);
    expect(chunks).toBeGreaterThan(2);
  });

  it('refuses v1-only fields and bad v2 values on a v2 model, naming the field', async () => {
    const bad = async (body: object, re: RegExp) => {
      const r = await postRaw(base, '/v1/completions', JSON.stringify({ prompt: PROMPT, max_tokens: 32, ...body }));
      expect(r.status).toBe(400);
      expect(r.json.error.message).toMatch(re);
    };
    await bad({ cache: 'dual' }, /^cache: "dual" is a Fast-dLLM v1 cache/);
    await bad({ steps: 8 }, /^steps: not an option of fast_dllm_qwen models/);
    await bad({ small_block: 5 }, /^small_block: must be a positive integer dividing the block length 32/);
  });
});

describe('a v2 model served by a pool worker', () => {
  it('answers as in-process: the worker runs the same cohort scheduler over its own copy', async () => {
    const s = createServer(model, { workers: 1 });
    try {
      await s.ready;
      const b = await s.app.listen({ host: '127.0.0.1', port: 0 });
      const r = await postRaw(b, '/v1/completions', JSON.stringify({ prompt: PROMPT, max_tokens: 64, threshold: 0.5 }));
      const solo = await generate(model, PROMPT, { genLength: 64, threshold: 0.5 });
      expect(r.status).toBe(200);
      expect(r.json.choices[0].text).toBe(solo.text[0]);
      expect(r.json.fastdllm.nfe).toBe(solo.nfe);
    } finally {
      await s.shutdown();
    }
  });
});

describe('a v1 model\'s server', () => {
  it('refuses small_block and block_cache, naming them', async () => {
    const s = await startServer({});
    try {
      for (const [field, v] of [['small_block', 8], ['block_cache', true]] as const) {
        const r = await postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: 'What is 2+2?', max_tokens: 32, [field]: v }));
        expect(r.status).toBe(400);
        expect(r.json.error.message).toMatch(new RegExp(`^${field}: only Fast-dLLM v2`));
      }
    } finally {
      await s.server.shutdown();
    }
  });
});
