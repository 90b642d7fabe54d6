import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR, generate, loadModel } from '../../src/api.ts';
import { llada } from '../../src/models/llada.ts';
import { createServer } from '../../src/serve/server.ts';
import { autoWorkers, WorkerPoolScheduler } from '../../src/serve/worker-pool.ts';
import { completion, embeddedModel, LONG_BODY, metric, PROMPTS, postRaw, SETTINGS, startServer, type Running } from './serve-helpers.ts';

const LONG = LONG_BODY;

describe('a server with pool workers (one model copy and scheduler per worker thread)', () => {
  let s: Running;
  beforeAll(async () => { s = await startServer({ workers: 2, maxBatch: 8 }); });
  afterAll(async () => { await s?.server.shutdown(); });

  it('32 concurrent clients with mixed prompts and settings: each answer is its single-request answer, batched in both workers', async () => {
    expect(s.server.scheduler).toBeInstanceOf(WorkerPoolScheduler);
    const jobs = Array.from({ length: 32 }, (_, i) => ({ prompt: PROMPTS[i % PROMPTS.length], setting: SETTINGS[(i * 7) % SETTINGS.length] }));
    const solo = new Map<string, string>();
    for (const j of jobs) {
      const key = JSON.stringify([j.prompt, j.setting.opts]);
      if (!solo.has(key)) solo.set(key, (await generate(s.model, j.prompt, j.setting.opts)).text[0]);
    }
    const nfe0 = await metric(s.base, 'fastdllm_nfe_total');
    const answers = await Promise.all(jobs.map((j) => completion(s, { prompt: j.prompt, ...j.setting.body })));
    answers.forEach((a, i) => {
      expect(a.choices[0].text, `request ${i}`).toBe(solo.get(JSON.stringify([jobs[i].prompt, jobs[i].setting.opts])));
    });
    expect(Math.max(...answers.map((a) => a.fastdllm.batch_size))).toBeGreaterThan(1);
    // The workers' forwards reach the server's /metrics: as many as the answers' rows took, fewer than one per row.
    const forwards = (await metric(s.base, 'fastdllm_nfe_total')) - nfe0;
    const rowForwards = answers.reduce((n, a) => n + a.fastdllm.nfe, 0);
    expect(forwards).toBeGreaterThan(0);
    expect(forwards).toBeLessThan(rowForwards);
    expect(await metric(s.base, 'fastdllm_forward_rows_count')).toBeGreaterThanOrEqual(forwards);
    // The workers' gauges come with their next tick, just after the last answers: wait for them.
    for (let i = 0; i < 200 && (await metric(s.base, 'fastdllm_running_batch_size')) !== 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(await metric(s.base, 'fastdllm_running_batch_size')).toBe(0);
  });

  it('streams, stop strings and disconnects behave as in-process', async () => {
    const opts = { genLength: 64, blockLength: 32, cache: 'dual', steps: 64 } as const;
    const whole = (await generate(s.model, PROMPTS[0], opts)).text[0];
    const st = await s.client.completions.create({ model: 'x', prompt: PROMPTS[0], max_tokens: 64, steps: 64, stream: true } as any) as any as AsyncIterable<any>;
    let text = '';
    for await (const c of st) text += c.choices[0]?.text ?? '';
    expect(text).toBe(whole);
    // A stop string inside the answer ends it there ('stop'); the worker drops the row.
    const stop = whole.slice(Math.floor(whole.length / 2), Math.floor(whole.length / 2) + 2);
    const cut = await completion(s, { prompt: PROMPTS[0], max_tokens: 64, steps: 64, stop });
    expect(cut.choices[0].finish_reason).toBe('stop');
    expect(cut.choices[0].text).toBe(whole.slice(0, whole.indexOf(stop)));
    // A client that goes away after its first chunk is counted; the server goes on answering.
    const before = await metric(s.base, 'fastdllm_disconnects_total');
    const abort = new AbortController();
    const gone = await s.client.completions.create({ model: 'x', prompt: PROMPTS[1], ...LONG, stream: true, stream_options: { denoise: true } } as any, { signal: abort.signal }) as any as AsyncIterable<any>;
    try { for await (const _ of gone) abort.abort(); } catch { /* the client's own abort */ }
    expect(abort.signal.aborted).toBe(true);
    for (let i = 0; i < 100 && (await metric(s.base, 'fastdllm_disconnects_total')) === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await metric(s.base, 'fastdllm_disconnects_total')).toBe(before + 1);
    const after = await completion(s, { prompt: PROMPTS[3] });
    expect(after.choices[0].text).toBe((await generate(s.model, PROMPTS[3], SETTINGS[0].opts)).text[0]);
  });

  it('bad options are refused with a 400 naming the field, before any worker sees them', async () => {
    // Both are in range, so only option resolution (at submit, in the server's thread) refuses them.
    const r = await postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: PROMPTS[0], max_tokens: 32, threshold: 0.5, factor: 1 }));
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe('threshold');
    expect(r.json.error.message).toContain('exclusive');
    expect((await completion(s, { prompt: PROMPTS[1] })).choices[0].text).toBe((await generate(s.model, PROMPTS[1], SETTINGS[0].opts)).text[0]);
  });
});

describe('pool workers: timeouts, shutdown, and when a pool is not used', () => {
  it('a row past its timeout is answered 504 by its worker', async () => {
    const s = await startServer({ workers: 1, timeoutMs: 1 });
    try {
      const r = await postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: PROMPTS[0], max_tokens: 128, steps: 128 }));
      expect(r.status).toBe(504);
      expect(r.json.error.code).toBe('timeout');
      expect(r.json.error.message).toContain('timeout');
    } finally {
      await s.server.shutdown();
    }
  });

  it('shutdown finishes what is in flight, then stops the worker threads', async () => {
    const s = await startServer({ workers: 2 });
    const inFlight = [0, 1, 2].map((i) => completion(s, { prompt: PROMPTS[i] }));
    // Shut down once the server has all three (queued, decoding or answered): later arrivals get a 503.
    const has = async () => {
      const text = await (await fetch(`${s.base}/metrics`)).text();
      const v = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return v(/^fastdllm_queue_depth (\d+)$/m) + v(/^fastdllm_running_batch_size (\d+)$/m) + v(/^fastdllm_requests_total\{route="completion",status="200"\} (\d+)$/m);
    };
    for (let i = 0; i < 400 && (await has()) < 3; i++) await new Promise((r) => setTimeout(r, 5));
    await s.server.shutdown();
    const answers = await Promise.all(inFlight);
    for (const [i, a] of answers.entries()) expect(a.choices[0].text).toBe((await generate(s.model, PROMPTS[i], SETTINGS[0].opts)).text[0]);
    expect(s.server.scheduler.queueDepth).toBe(0);
  });

  it('auto: a worker per core for a small CPU model, none on one core or for a model defined in code', async () => {
    const m = await embeddedModel();
    expect(autoWorkers(m.host, 2)).toBe(2);
    expect(autoWorkers(m.host, 16)).toBe(8);
    expect(autoWorkers(m.host, 1)).toBe(0);
    // A model on the GPU decodes in the server's thread: its batches are where its gain is.
    const onGpu = { ...m, host: { ...m.host, backend: 'cuda-bf16', device: { device: 'cuda' as const, reason: 'test' } } };
    expect(autoWorkers(onGpu.host, 8)).toBe(0);
    expect(() => createServer(onGpu, { workers: 2 })).toThrow(/runs on cuda; pool workers decode on the CPU/);
    const coded = await loadModel(DEFAULT_MODEL_DIR, { device: 'cpu', definition: { ...llada } });
    expect(autoWorkers(coded.host, 2)).toBe(0);
    expect(() => createServer(coded, { workers: 2 })).toThrow(/definition was given in code.*--workers 0/);
  });

  it('a worker that dies fails only its own rows; a new worker takes its place and later requests are answered', async () => {
    const s = await startServer({ workers: 2 });
    try {
      const pool = s.server.scheduler as WorkerPoolScheduler;
      const threads = (pool as unknown as { workers: { thread: { terminate(): Promise<number> } }[] }).workers.map((w) => w.thread);
      // A long row lands on the first worker (the fewest rows, the first on ties); then that worker dies.
      const long = postRaw(s.base, '/v1/completions', JSON.stringify({ prompt: PROMPTS[0], ...LONG }));
      for (let i = 0; i < 400 && (await metric(s.base, 'fastdllm_running_batch_size')) < 1; i++) await new Promise((r) => setTimeout(r, 5));
      await threads[0].terminate();
      const r = await long;
      expect(r.status).toBe(500);
      expect(r.json.error.message).toMatch(/pool worker exited/);
      for (let i = 0; i < 400 && (pool.size < 2 || (pool as unknown as { workers: { alive: boolean }[] }).workers.some((w) => !w.alive)); i++) await new Promise((r) => setTimeout(r, 10));
      expect(pool.size).toBe(2);
      const answers = await Promise.all([1, 2, 3].map((i) => completion(s, { prompt: PROMPTS[i] })));
      for (const [k, a] of answers.entries()) expect(a.choices[0].text).toBe((await generate(s.model, PROMPTS[k + 1], SETTINGS[0].opts)).text[0]);
    } finally {
      await s.server.shutdown();
    }
  });

  it('a listener that throws fails its own row only; the pool and the other rows go on', async () => {
    const m = await embeddedModel();
    const pool = new WorkerPoolScheduler(m.host, 1, { maxBatch: 8, maxQueue: 16, maxRunning: 2 });
    try {
      await pool.ready;
      const ids = m.tokenizer!.encode(PROMPTS[0], { addSpecialTokens: true });
      const options = { genLength: 32, blockLength: 32, cache: 'dual' as const, threshold: 0.9 };
      const outcome = (throwOnStep: boolean) => new Promise<string>((res) => {
        pool.submit({
          ids, options, listener: {
            onStep: () => { if (throwOnStep) throw new Error('listener broke'); },
            onFinal: (canvas) => res(`final ${canvas.length}`),
            onError: (err) => res(`error ${err.message}`),
          },
        });
      });
      const [bad, good] = await Promise.all([outcome(true), outcome(false)]);
      expect(bad).toBe('error listener broke');
      expect(good).toBe('final 32');
      expect(await outcome(false)).toBe('final 32'); // still serving
      await pool.drain();
    } finally {
      await pool.close();
    }
  });

  it('a replacement that cannot load leaves the pool: with no worker left, requests fail at once and drain ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fd-pool-'));
    try {
      cpSync(DEFAULT_MODEL_DIR, dir, { recursive: true });
      const m = await loadModel(dir, { device: 'cpu' });
      const pool = new WorkerPoolScheduler(m.host, 1, { maxBatch: 8, maxQueue: 16, maxRunning: 2 });
      await pool.ready;
      rmSync(join(dir, 'model.safetensors')); // the replacement will not load
      await (pool as unknown as { workers: { thread: { terminate(): Promise<number> } }[] }).workers[0].thread.terminate();
      for (let i = 0; i < 400 && pool.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(pool.size).toBe(0);
      const ids = m.tokenizer!.encode(PROMPTS[0], { addSpecialTokens: true });
      expect(() => pool.submit({ ids, options: { genLength: 32 }, listener: { onStep() {}, onFinal() {}, onError() {} } })).toThrow(/no pool worker is left/);
      await pool.drain(); // resolves: nothing waits
      await pool.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a worker that cannot load the model fails `ready`, naming the directory and the cause', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fd-pool-'));
    try {
      cpSync(DEFAULT_MODEL_DIR, dir, { recursive: true });
      const m = await loadModel(dir, { device: 'cpu' });
      rmSync(join(dir, 'model.safetensors'));
      const server = createServer(m, { workers: 1 });
      await expect(server.ready).rejects.toThrow(new RegExp(`could not load ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*safetensors`));
      await server.scheduler.close?.();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
