import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { LONG_BODY, PROMPTS, startServer } from './serve-helpers.ts';

/** Sends raw HTTP/1.1 requests on one kept-alive socket; `next()` resolves with the next whole response's text. */
function keepAliveSocket(base: string) {
  const { hostname, port } = new URL(base);
  const sock = connect(Number(port), hostname);
  let buf = '';
  const waiters: ((s: string) => void)[] = [];
  // Every whole response buffered so far, in order (one read may hold several).
  const pump = () => {
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0 || !waiters.length) return;
      const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      const res = buf.slice(0, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      waiters.shift()!(res);
    }
  };
  sock.on('data', (d) => { buf += d; pump(); });
  sock.on('error', () => { /* the server closes it at the end */ });
  return {
    send(path: string, body: object) {
      const b = JSON.stringify(body);
      sock.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\nconnection: keep-alive\r\n\r\n${b}`);
      return new Promise<string>((res) => { waiters.push(res); pump(); });
    },
    ready: new Promise<void>((res) => sock.once('connect', () => res())),
    close: () => sock.destroy(),
  };
}

describe('shutdown', () => {
  it('a request pipelined behind one in flight when shutdown began gets a 503 in OpenAI\'s error shape; the one in flight finishes', async () => {
    const s = await startServer({ workers: 0 });
    const k = keepAliveSocket(s.base);
    try {
      await k.ready;
      // Node closes idle kept-alive connections at close(); this one is busy with a long request
      // (LONG_BODY), and a second request, sent as shutdown
      // begins, waits behind it on the same connection (HTTP/1.1 pipelining).
      const long = k.send('/v1/completions', { prompt: PROMPTS[0], ...LONG_BODY });
      for (let i = 0; i < 400 && (await fetch(`${s.base}/metrics`).then((r) => r.text()).then((t) => Number(/^fastdllm_running_batch_size (\d+)$/m.exec(t)?.[1]))) < 1; i++) await new Promise((r) => setTimeout(r, 5));
      const late = k.send('/v1/completions', { prompt: PROMPTS[2], max_tokens: 32 });
      const down = s.server.shutdown();
      expect(await long).toMatch(/^HTTP\/1.1 200/);
      const res = await late;
      expect(res).toMatch(/^HTTP\/1.1 503/);
      expect(res).toMatch(/connection: close/i);
      const body = JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4));
      expect(body.error).toMatchObject({ type: 'server_error', code: 'shutting_down', param: null });
      expect(body.error.message).toContain('shutting down');
      await down;
    } finally {
      k.close();
    }
  }, 30_000);
});
