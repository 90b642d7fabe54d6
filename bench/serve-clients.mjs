/**
 * The HTTP clients of bench/serve.bench.ts, in their own process (forked by the bench), so that
 * their work (fetch, JSON) runs beside the server as a real client's would, not on the server's
 * event loop. Each message from the parent is one run: `clients` concurrent clients share
 * `requests` requests, each client sending its next request when its last is answered. The reply
 * is the run's wall time (first request sent to last answer), tokens, latencies, batch sizes and
 * the clients' own CPU time (ms, this process).
 * Plain JavaScript: the child starts without a TypeScript loader. `--same-process` in the bench
 * imports runClients instead, to compare with the old setup.
 */
export async function runClients({ base, clients, requests, prompts, maxTokens }) {
  let next = 0, tokens = 0;
  const lat = [], batch = [];
  const t0 = performance.now(), c0 = process.cpuUsage();
  try {
    await Promise.all(Array.from({ length: clients }, async () => {
      for (let i = next++; i < requests; i = next++) {
        const t = performance.now();
        const r = await fetch(`${base}/v1/completions`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ prompt: prompts[i % prompts.length], max_tokens: maxTokens }),
        });
        const body = await r.json();
        if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(body)}`);
        lat.push(performance.now() - t);
        tokens += body.usage.completion_tokens;
        batch.push(body.fastdllm.batch_size);
      }
    }));
    const c = process.cpuUsage(c0);
    return { clients, wallS: (performance.now() - t0) / 1000, tokens, lat, batch, clientCpuMs: (c.user + c.system) / 1000 };
  } catch (e) {
    return { error: String(e?.stack ?? e) };
  }
}

// Forked by the bench: one message per run. (Imported with --same-process, it only exports.)
if (process.send) process.on('message', async (m) => process.send(await runClients(m)));
