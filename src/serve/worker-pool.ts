import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LoadedModel } from '../runtime/loaded-model.ts';
import type { HostBackendName } from '../runtime/host-backends.ts';
import { isBuiltinDefinition } from '../models/registry.ts';
import { resolveModelOptions } from '../decode/v2-options.ts';
import { env } from '../env.ts';
import { numel } from '../util/math.ts';
import { QueueFullError, TimeoutError, type DecodeJob, type JobHandle, type Scheduler } from './job.ts';
import type { ServeMetrics } from './metrics.ts';
import type { SchedulerLimits } from './round-robin.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.ts';

/** Workers a pool starts in place of dead ones, over its life. */
const MAX_RESTARTS = 8;

/** Weights (f32 bytes) up to which `auto` starts a worker per core: small models are compute-bound per row. */
const AUTO_POOL_MAX_WEIGHT_BYTES = 256 * 1024 * 1024;

/**
 * How many pool workers `workers: 'auto'` means for a model: one per core (at most 8) on the CPU
 * when the model is small enough to hold a copy per worker and a fresh thread can load it (a
 * built-in architecture); otherwise 0, decoding in the server's thread (a GPU, a big model).
 * The cores are the machine's, or fewer when FASTDLLM_THREADS says so.
 */
export function autoWorkers(model: LoadedModel, cores = Math.min(availableParallelism(), env.threads)): number {
  if (!poolable(model) || cores < 2) return 0;
  const bytes = 4 * model.graph.ofKind('param').reduce((s, p) => s + numel(p.shape as number[]), 0);
  return bytes <= AUTO_POOL_MAX_WEIGHT_BYTES ? Math.min(cores, 8) : 0;
}

/** Why a model cannot be served by pool workers, or undefined when it can. */
function notPoolable(model: LoadedModel): string | undefined {
  if (model.backend !== 'native' && model.backend !== 'reference') return `the model runs on ${model.device?.device ?? model.backend}; pool workers decode on the CPU`;
  if (!isBuiltinDefinition(model.definition)) return 'its definition was given in code; a worker thread finds only built-in architectures by model_type';
  return undefined;
}
const poolable = (m: LoadedModel) => notPoolable(m) === undefined;

interface Job {
  id: number;
  job: DecodeJob;
  worker?: PoolWorker;
  done: boolean;
}

interface PoolWorker {
  thread: Worker;
  /** Rows sent and not yet answered. */
  rows: Map<number, Job>;
  /** Its scheduler's gauges (queued, batches, rows). */
  gauges: [number, number, number];
  alive: boolean;
}

/**
 * Data-parallel serving on the CPU: `n` worker threads, each with its own copy of the model and
 * its own scheduler (continuous batching as in-process), each running its kernels on its share
 * of the cores (FASTDLLM_THREADS / n, at least 1). Why: a small model's forward is compute-bound
 * per row (bench/NOTES.md, serving), so one thread's batching cannot use the second core, and
 * OpenMP's fork/join per kernel costs more than it gives at these sizes; independent workers use
 * every core, and the HTTP work here overlaps their forwards. Answers do not change: a row decodes
 * the same in any batch of any worker. The bounded queue lives here; a row goes to the worker
 * with the fewest rows once that worker has room (max batch x max running).
 */
export class WorkerPoolScheduler implements Scheduler {
  private readonly waiting: Job[] = [];
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private readonly idle: (() => void)[] = [];
  private closed = false;
  /** Workers started in place of ones that died (at most MAX_RESTARTS). */
  private restarts = 0;
  private readonly init: WorkerInit;
  private readonly threads: number;
  /** Resolves when every worker has loaded the model; rejects, naming the cause, if one failed. */
  readonly ready: Promise<void>;

  constructor(private readonly model: LoadedModel, n: number, private readonly limits: SchedulerLimits, private readonly metrics?: ServeMetrics) {
    const why = notPoolable(model);
    if (why) throw new Error(`serve: ${n} workers cannot serve ${model.dir}: ${why} (use --workers 0)`);
    this.threads = Math.max(1, Math.floor(env.threads / n));
    this.init = { dir: model.dir, backend: model.backend as HostBackendName, limits };
    this.ready = Promise.all(Array.from({ length: n }, () => this.spawn())).then(() => undefined);
    this.ready.catch(() => { /* the owner awaits it; an unawaited rejection must not kill the process */ });
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  /** Worker threads started. */
  get size(): number {
    return this.workers.length;
  }

  submit(job: DecodeJob): JobHandle {
    if (!this.workers.length) throw new Error('serve: no pool worker is left to decode (they died; see the log)');
    if (this.waiting.length >= this.limits.maxQueue) throw new QueueFullError(`the queue is full (${this.limits.maxQueue} requests waiting)`);
    // Refused here, as in-process: bad options throw before the row queues.
    resolveModelOptions(job.options, this.model.config, [job.ids.length]);
    const j: Job = { id: this.nextId++, job, done: false };
    this.waiting.push(j);
    this.dispatch();
    return { cancel: () => this.cancel(j) };
  }

  drain(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((res) => this.idle.push(res));
  }

  /** Stops the workers (after drain: nothing is lost). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.thread.terminate()));
  }

  private spawn(): Promise<void> {
    const init = this.init;
    const thread = new Worker(workerBoot(), {
      eval: true, workerData: init, execArgv: [],
      env: { ...process.env, FASTDLLM_THREADS: String(this.threads) },
    });
    thread.unref(); // idle workers do not keep the process alive; the server does
    const w: PoolWorker = { thread, rows: new Map(), gauges: [0, 0, 0], alive: false };
    this.workers.push(w);
    return new Promise<void>((res, rej) => {
      thread.on('message', (m: FromWorker) => {
        if (m.t === 'ready') { w.alive = true; res(); this.dispatch(); } else if (m.t === 'load-failed') rej(new Error(`serve: a pool worker could not load ${init.dir}: ${m.message}`));
        else this.onMessage(w, m);
      });
      thread.on('error', (err: Error) => { rej(err); this.lost(w, err); });
      thread.on('exit', (code) => {
        rej(new Error(`serve: a pool worker exited (code ${code}) before it was ready`));
        if (!this.closed) this.lost(w, new Error(`a pool worker exited (code ${code})`));
      });
    });
  }

  private onMessage(w: PoolWorker, m: Exclude<FromWorker, { t: 'ready' | 'load-failed' }>): void {
    if (m.t === 'metrics') {
      for (const e of m.events) {
        if (e[0] === 'step') this.metrics?.countStep(e[1], e[2], e[3], e[4]);
        else if (e[0] === 'admitted') this.metrics?.countAdmitted(e[1]);
        else w.gauges = [e[1], e[2], e[3]];
      }
      this.gauges();
      return;
    }
    const j = w.rows.get(m.id);
    if (!j) return; // answered or cancelled here while the worker went on
    if (m.t === 'step') {
      if (!j.done) this.deliver(w, j, () => j.job.listener.onStep(m.canvas, m.info));
      return;
    }
    w.rows.delete(m.id);
    if (!j.done) {
      j.done = true;
      if (m.t === 'final') this.deliver(w, j, () => j.job.listener.onFinal(m.canvas, m.info));
      else this.deliver(w, j, () => j.job.listener.onError(m.timeout ? new TimeoutError(m.message) : new Error(m.message)));
    }
    this.dispatch();
  }

  /**
   * Calls a row's listener. One that throws fails that row alone (dropped from its worker, told
   * through onError unless it was already answered), never the server: in-process a throwing
   * listener fails its batch inside the scheduler's loop, here it would be an uncaught exception.
   */
  private deliver(w: PoolWorker, j: Job, call: () => void): void {
    const answered = j.done;
    try {
      call();
    } catch (err) {
      j.done = true;
      if (w.rows.delete(j.id)) this.send(w, { t: 'cancel', id: j.id });
      if (!answered) try { j.job.listener.onError(err as Error); } catch { /* already failing */ }
    }
  }

  /**
   * A worker died (an exception that escaped its scheduler, or it was terminated): its rows fail
   * (their state died with it), the others go on, and a new worker takes its place (at most
   * MAX_RESTARTS times over the pool's life, so a model that kills every worker does not loop).
   */
  private lost(w: PoolWorker, err: Error): void {
    const at = this.workers.indexOf(w);
    if (!w.alive) {
      // Never ready (its load failed), or already handled: it leaves the pool, not restarted (a
      // worker that could not load would fail again); with none left, what waits fails.
      if (at >= 0) this.workers.splice(at, 1);
      if (at >= 0 && !this.workers.length && !this.closed) this.failWaiting(err);
      return;
    }
    w.alive = false;
    for (const j of w.rows.values()) {
      if (!j.done) { j.done = true; this.deliver(w, j, () => j.job.listener.onError(new Error(`serve: ${err.message}`))); }
    }
    w.rows.clear();
    this.workers.splice(at, 1);
    if (!this.closed && this.restarts < MAX_RESTARTS) {
      this.restarts++;
      process.stderr.write(`fastdllm serve: ${err.message}; starting another (${this.restarts} of at most ${MAX_RESTARTS})\n`);
      this.spawn().catch((e: Error) => process.stderr.write(`fastdllm serve: the replacement worker failed: ${e.message}\n`));
    }
    if (!this.workers.length) this.failWaiting(err);
    this.dispatch();
  }

  /** No worker is left (nor starting): what waits can never run. */
  private failWaiting(err: Error): void {
    for (const j of this.waiting.splice(0)) {
      if (!j.done) { j.done = true; try { j.job.listener.onError(new Error(`serve: no pool worker is left (the last: ${err.message})`)); } catch { /* already failing */ } }
    }
  }

  /** Sends waiting rows, oldest first, each to the live worker with the fewest rows that has room. */
  private dispatch(): void {
    const room = this.limits.maxBatch * this.limits.maxRunning;
    while (this.waiting.length) {
      let best: PoolWorker | undefined;
      for (const w of this.workers) if (w.alive && w.rows.size < room && (!best || w.rows.size < best.rows.size)) best = w;
      if (!best) break;
      const j = this.waiting.shift()!;
      j.worker = best;
      best.rows.set(j.id, j);
      const timeLeftMs = j.job.deadline === undefined ? undefined : j.job.deadline - performance.now();
      this.send(best, { t: 'submit', id: j.id, ids: j.job.ids, options: j.job.options, timeLeftMs, steps: j.job.steps });
    }
    this.gauges();
    if (this.isIdle()) for (const res of this.idle.splice(0)) res();
  }

  private cancel(j: Job): void {
    if (j.done) return;
    j.done = true;
    const i = this.waiting.indexOf(j);
    if (i >= 0) this.waiting.splice(i, 1);
    else if (j.worker) this.send(j.worker, { t: 'cancel', id: j.id });
    j.worker?.rows.delete(j.id);
    this.dispatch();
  }

  private send(w: PoolWorker, m: ToWorker): void {
    w.thread.postMessage(m);
  }

  private isIdle(): boolean {
    return !this.waiting.length && this.workers.every((w) => !w.rows.size);
  }

  private gauges(): void {
    const sum = (i: number) => this.workers.reduce((s, w) => s + w.gauges[i], 0);
    this.metrics?.setGauges(this.waiting.length + sum(0), sum(1), sum(2));
  }
}

/**
 * The worker's entry, as code for an eval worker: engine-worker.js when running from dist/, and
 * engine-worker.ts through tsx's loader when running from source (tests, a clone): a worker thread
 * gets no TypeScript loader of its own, and Node 20 ignores `--import` in a worker's execArgv.
 * tsx's ESM register API is the .mjs twin of what require.resolve finds (its CJS twin resolves
 * its hooks against the wrong folder inside a worker).
 */
function workerBoot(): string {
  const ts = import.meta.url.endsWith('.ts');
  const entry = new URL(`./engine-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
  if (!ts) return `import(${JSON.stringify(entry)});`;
  const api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
}
