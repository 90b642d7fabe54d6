import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { generate } from '../../src/api.ts';
import { embeddedModel, LONG_BODY, LONG_OPTS, PROMPTS } from './serve-helpers.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fastdllm.js');

// In the server's thread, and in two pool workers (the default on a 2-core machine is auto).
describe.each(['0', '2'])('fastdllm serve --workers %s in a child process', (workers) => {
  it('prints where it listens; SIGTERM with requests in flight loses none of them, then it exits 0', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--device', 'cpu', '--port', '0', '--max-running', '1', '--workers', workers], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    try {
      for (let i = 0; i < 600 && !/listening on (http:\S+)/.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
      const base = /listening on (http:\S+)/.exec(stdout)?.[1];
      expect(base, stderr).toBeDefined();
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0 });
      // A long streamed request takes the one running slot; plain ones queue behind it (options
      // they do not share, so they cannot join its batch).
      const long = await client.completions.create({ model: 'x', prompt: PROMPTS[0], ...LONG_BODY, stream: true, stream_options: { denoise: true } } as any) as any as AsyncIterable<any>;
      const it0 = long[Symbol.asyncIterator]();
      await it0.next();
      const plain = PROMPTS.slice(1, 5).map((p) => client.completions.create({ model: 'x', prompt: p, max_tokens: 32 }));
      if (workers !== '0') expect(stdout).toContain(`(${workers} worker threads)`);
      // All four received: in the server's thread they wait behind the long one; with workers,
      // some may already decode in the other worker, or be answered.
      const waitQueued = async () => {
        for (let i = 0; i < 200; i++) {
          const m = await (await fetch(`${base}/metrics`)).text();
          const g = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(m)?.[1]);
          const answered = Number(/^fastdllm_requests_total\{route="completion",status="200"\} (\d+)$/m.exec(m)?.[1] ?? 0);
          if (workers === '0' ? g('fastdllm_queue_depth') === 4 : g('fastdllm_queue_depth') + g('fastdllm_running_batch_size') + answered >= 5) return;
          await new Promise((r) => setTimeout(r, 5));
        }
        throw new Error('the four requests never all arrived');
      };
      await waitQueued();
      child.kill('SIGTERM');
      let longText = '';
      for (let r = await it0.next(); !r.done; r = await it0.next()) longText += r.value.choices[0]?.text ?? '';
      const answers = await Promise.all(plain);
      const model = await embeddedModel();
      expect(longText).toBe((await generate(model, PROMPTS[0], LONG_OPTS)).text[0]);
      for (const [i, a] of answers.entries()) {
        expect(a.choices[0].text).toBe((await generate(model, PROMPTS[i + 1], { genLength: 32, blockLength: 32, cache: 'dual', threshold: 0.9 })).text[0]);
      }
      expect(await exited).toBe(0);
      expect(stderr).toContain('SIGTERM');
      // After the exit nothing listens there.
      await expect(fetch(`${base}/health`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
