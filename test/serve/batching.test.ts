import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/api.ts';
import { completion, LONG_BODY, LONG_OPTS, metric, PROMPTS, postRaw, SETTINGS, startServer, type Running } from './serve-helpers.ts';

describe('continuous batching never changes an answer', () => {
  let s: Running;
  beforeAll(async () => { s = await startServer({ maxBatch: 8 }); });
  afterAll(async () => { await s?.server.shutdown(); });

  it('32 concurrent clients with mixed prompts and settings: each answer is its single-request answer, and batches formed', async () => {
    const jobs = Array.from({ length: 32 }, (_, i) => ({ prompt: PROMPTS[i % PROMPTS.length], setting: SETTINGS[(i * 7) % SETTINGS.length] }));
    const solo = new Map<string, string>();
    for (const j of jobs) {
      const key = JSON.stringify([j.prompt, j.setting.opts]);
      if (!solo.has(key)) solo.set(key, (await generate(s.model, j.prompt, j.setting.opts)).text[0]);
    }
    const answers = await Promise.all(jobs.map((j) => completion(s, { prompt: j.prompt, ...j.setting.body })));
    answers.forEach((a, i) => {
      expect(a.choices[0].text, `request ${i}`).toBe(solo.get(JSON.stringify([jobs[i].prompt, jobs[i].setting.opts])));
    });
    expect(new Set(answers.map((a) => a.choices[0].text)).size).toBeGreaterThan(5); // the mix is a mix
    // Batches of more than one row ran (the answers say so, and the batch-size histogram too).
    expect(Math.max(...answers.map((a) => a.fastdllm.batch_size))).toBeGreaterThan(1);
    const count = await metric(s.base, 'fastdllm_batch_size_count');
    const single = await metric(s.base, 'fastdllm_batch_size_bucket{le="1"}');
    expect(count).toBeLessThan(32);
    expect(single).toBeLessThan(count);
  });

  it('a request that arrives while a batch runs starts (and here ends) before that batch ends', async () => {
    // A long batch (LONG_BODY: ~120 forwards), streamed with a canvas snapshot per step, so its
    // first chunk says it runs. Without a cache a request joins a running batch at its next step
    // (with one, at its next block boundary: test/decode/engine.test.ts); the short one shares
    // its options but 16 steps, so it ends ~100 forwards before the long one whatever the load.
    const joinedBefore = await metric(s.base, 'fastdllm_joined_forwards_total');
    const long = await s.client.completions.create({ model: 'x', prompt: PROMPTS[0], ...LONG_BODY, stream: true, stream_options: { denoise: true } } as any) as any as AsyncIterable<any>;
    const order: string[] = [];
    const longDone = (async () => {
      let first = true;
      for await (const c of long) {
        if (first) { first = false; order.push('long started'); }
        void c;
      }
      order.push('long ended');
    })();
    while (!order.length) await new Promise((r) => setTimeout(r, 5));
    const short = await completion(s, { prompt: PROMPTS[1], ...LONG_BODY, steps: 16 });
    order.push('short answered');
    await longDone;
    expect(order).toEqual(['long started', 'short answered', 'long ended']);
    expect(short.choices[0].text).toBe((await generate(s.model, PROMPTS[1], { ...LONG_OPTS, steps: 16 })).text[0]);
    // It joined the long one's forwards (rows admitted at different times in one forward).
    expect(short.fastdllm.batch_size).toBe(2);
    expect(await metric(s.base, 'fastdllm_joined_forwards_total')).toBeGreaterThan(joinedBefore);
  });

  it('a client that disconnects mid-stream is dropped; the others in its batch are undisturbed', async () => {
    const before = await metric(s.base, 'fastdllm_disconnects_total');
    const opts = LONG_OPTS;
    // Snapshots each step: the first chunk comes at the first step, long before the end (LONG_BODY:
    // ~120 forwards), so the client goes away mid-stream whatever the load.
    const body = { ...LONG_BODY, stream: true, stream_options: { denoise: true } };
    const abort = new AbortController();
    const streams = await Promise.all([0, 1, 2].map((i) => s.client.completions.create({ model: 'x', prompt: PROMPTS[i], ...body } as any, i === 1 ? { signal: abort.signal } : {}) as any as Promise<AsyncIterable<any>>));
    const read = async (st: AsyncIterable<any>, stopAfter?: number) => {
      let text = '', chunks = 0;
      try {
        for await (const c of st) {
          text += c.choices[0]?.text ?? '';
          if (++chunks === stopAfter) abort.abort();
        }
      } catch (e) {
        return { text, aborted: (e as Error).name };
      }
      return { text, aborted: '' };
    };
    const [a, b, c] = await Promise.all([read(streams[0]), read(streams[1], 1), read(streams[2])]);
    expect(abort.signal.aborted).toBe(true); // the client went away after its first chunk
    void b;
    expect(a.text).toBe((await generate(s.model, PROMPTS[0], opts)).text[0]);
    expect(c.text).toBe((await generate(s.model, PROMPTS[2], opts)).text[0]);
    for (let i = 0; i < 100 && (await metric(s.base, 'fastdllm_disconnects_total')) === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await metric(s.base, 'fastdllm_disconnects_total')).toBe(before + 1);
    const after = await completion(s, { prompt: PROMPTS[3] });
    expect(after.choices[0].text).toBe((await generate(s.model, PROMPTS[3], SETTINGS[0].opts)).text[0]);
  });
});

describe('a full queue', () => {
  let s: Running;
  beforeAll(async () => { s = await startServer({ maxQueue: 2, maxRunning: 1 }); });
  afterAll(async () => { await s?.server.shutdown(); });

  it('answers 429 with Retry-After, and the queued requests are still answered', async () => {
    // Options no queued request shares, so the queued ones cannot join its batch.
    const long = await s.client.completions.create({ model: 'x', prompt: PROMPTS[0], ...LONG_BODY, stream: true, stream_options: { denoise: true } } as any) as any as AsyncIterable<any>;
    const it0 = long[Symbol.asyncIterator]();
    await it0.next(); // the long batch runs: the one running slot is taken
    const queued = [completion(s, { prompt: PROMPTS[1] }), completion(s, { prompt: PROMPTS[2] })];
    for (let i = 0; i < 200 && (await metric(s.base, 'fastdllm_queue_depth')) < 2; i++) await new Promise((r) => setTimeout(r, 5));
    const r = await postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: PROMPTS[3], max_tokens: 32 }));
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.json.error.type).toBe('rate_limit_error');
    while (!(await it0.next()).done) { /* drain the long stream */ }
    const answers = await Promise.all(queued);
    expect(answers[0].choices[0].text).toBe((await generate(s.model, PROMPTS[1], SETTINGS[0].opts)).text[0]);
    expect(answers[1].choices[0].text).toBe((await generate(s.model, PROMPTS[2], SETTINGS[0].opts)).text[0]);
    expect(Math.max(...answers.map((a) => a.fastdllm.batch_size))).toBe(2); // they waited together and ran as one batch
  });
});
