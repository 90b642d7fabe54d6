// A pool worker: loads the server's model in its own thread and decodes the rows the server
// thread sends it with the same scheduler the server would run in-process (schedulers.ts).
// Started by worker-pool.ts; speaks worker-protocol.ts.

import { parentPort, workerData } from 'node:worker_threads';
import { loadHostModel } from '../runtime/model.ts';
import { localScheduler } from './schedulers.ts';
import type { JobHandle, RowListener } from './job.ts';
import { TimeoutError } from './job.ts';
import type { SchedulerMetrics } from './metrics.ts';
import type { FromWorker, MetricEvent, ToWorker, WorkerInit } from './worker-protocol.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);

/** Metrics calls, relayed to the server thread once per event-loop turn (not once per call). */
const pending: MetricEvent[] = [];
const flush = () => { if (pending.length) post({ t: 'metrics', events: pending.splice(0) }); };
const queue = (e: MetricEvent) => { if (!pending.length) setImmediate(flush); pending.push(e); };
const relay: SchedulerMetrics = {
  countStep: (rows, decided, ms, joined) => queue(['step', rows, decided, ms, joined]),
  countAdmitted: (rows) => queue(['admitted', rows]),
  setGauges: (queued, batches, rows) => queue(['gauges', queued, batches, rows]),
};

let model;
try {
  model = await loadHostModel(init.dir, { backend: init.backend });
} catch (e) {
  post({ t: 'load-failed', message: (e as Error).message });
  port.close();
}
if (model) {
  // The server thread bounds the queue (it only sends rows a worker has room for).
  const scheduler = localScheduler(model, { ...init.limits, maxQueue: Number.MAX_SAFE_INTEGER }, relay);
  const handles = new Map<number, JobHandle>();
  const listener = (id: number): RowListener => ({
    // postMessage copies the canvas at once (structured clone): no copy of our own.
    onStep: (canvas, info) => post({ t: 'step', id, canvas: canvas as number[], info }),
    onFinal: (canvas, info) => { handles.delete(id); post({ t: 'final', id, canvas: canvas as number[], info }); },
    onError: (err) => { handles.delete(id); post({ t: 'error', id, timeout: err instanceof TimeoutError, message: err.message }); },
  });
  port.on('message', (m: ToWorker) => {
    if (m.t === 'cancel') {
      handles.get(m.id)?.cancel();
      handles.delete(m.id);
      return;
    }
    try {
      const deadline = m.timeLeftMs === undefined ? undefined : performance.now() + m.timeLeftMs;
      handles.set(m.id, scheduler.submit({ ids: m.ids, options: m.options, listener: listener(m.id), deadline, steps: m.steps }));
    } catch (e) {
      post({ t: 'error', id: m.id, timeout: false, message: (e as Error).message });
    }
  });
  post({ t: 'ready' });
}
