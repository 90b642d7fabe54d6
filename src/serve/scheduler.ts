import type { LoadedModel } from '../runtime/loaded-model.ts';
import { resolveOptions, type GenerateOptions } from '../decode/options.ts';
import { DecodeEngine, engineKey, type EngineRow, type EngineStep } from '../decode/engine.ts';
import type { ServeMetrics } from './metrics.ts';

/** What the scheduler tells the owner of one row (one request). */
export interface RowListener {
  /** A step decided positions of this row; `canvas` is its generated region (masks where undecided). */
  onStep(canvas: readonly number[], info: StepInfo): void;
  /** The row's text is final: everything up to its first EOS (or the whole region) is decided. */
  onFinal(canvas: readonly number[], info: StepInfo): void;
  onError(err: Error): void;
}

export interface StepInfo {
  /** Forwards the row took part in so far (its solo nfe). */
  nfe: number;
  /** The most rows of any forward the row took part in. */
  batchSize: number;
}

/** One request to decode: prompt ids and the options they decode with. */
export interface DecodeJob {
  ids: number[];
  options: GenerateOptions;
  listener: RowListener;
  /** performance.now() after which the row is dropped with a TimeoutError. */
  deadline?: number;
}

/** A submitted job: cancel() drops the row at the next step (a client that went away). */
export interface JobHandle {
  cancel(): void;
}

/**
 * What the server needs from a scheduler, kept small so that a stronger engine (rows joining a
 * running batch's forward) can replace BatchScheduler without touching the HTTP layer.
 */
export interface Scheduler {
  /** Queues a job; throws QueueFullError when the queue is at its bound. */
  submit(job: DecodeJob): JobHandle;
  readonly queueDepth: number;
  /** Resolves once nothing waits or runs (used on shutdown). */
  drain(): Promise<void>;
}

/** The waiting queue is at its bound (HTTP 429). */
export class QueueFullError extends Error {}
/** A row ran past its deadline. */
export class TimeoutError extends Error {}

/** True when the row's text can no longer change: no mask before its first EOS (or none at all). */
export function isFinal(canvas: readonly number[], eos: number, maskId: number): boolean {
  for (const t of canvas) {
    if (t === maskId) return false;
    if (t === eos) return true;
  }
  return true;
}


/** Limits of the engine scheduler. */
export interface EngineSchedulerOptions {
  /** Rows per engine (rows sharing one forward) at most. */
  maxBatch: number;
  maxQueue: number;
  /** Engines (batches) decoding at once; a row whose key has no engine with room waits in the queue. */
  maxRunning: number;
}

interface Row {
  job: DecodeJob;
  key: string;
  canvas: number[];
  done: boolean;
  maxBatch: number;
  slot?: EngineRow<Row>;
}

/**
 * Continuous batching: each row joins a running engine (decode/engine.ts) of its key (cache
 * mode, block length, head mode) at the engine's next join point, and leaves when its text is
 * final or its client goes away. Engines are stepped round-robin, one forward at a time, with
 * the event loop running between forwards (setImmediate), so HTTP keeps flowing.
 */
export class EngineScheduler implements Scheduler {
  private readonly waiting: Row[] = [];
  private engines: DecodeEngine<Row>[] = [];
  private readonly keys = new Map<DecodeEngine<Row>, string>();
  /** The engine each admitted, unanswered row decodes in. */
  private readonly owner = new Map<Row, DecodeEngine<Row>>();
  private next = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly model: LoadedModel, private readonly opts: EngineSchedulerOptions, private readonly metrics?: ServeMetrics) {}

  get queueDepth(): number {
    return this.waiting.length;
  }

  /** Forwards that carried rows admitted at different times, over all engines so far. */
  joinedForwards = 0;

  submit(job: DecodeJob): JobHandle {
    if (this.waiting.length >= this.opts.maxQueue) throw new QueueFullError(`the queue is full (${this.opts.maxQueue} requests waiting)`);
    const o = resolveOptions(job.options, this.model.config, [job.ids.length]);
    const row: Row = { job, key: engineKey(this.model, o), canvas: new Array(o.genLength).fill(o.maskId), done: false, maxBatch: 0 };
    this.waiting.push(row);
    this.gauges();
    this.wake();
    return { cancel: () => this.cancel(row) };
  }

  drain(): Promise<void> {
    if (!this.waiting.length && !this.engines.length) return Promise.resolve();
    return new Promise((res) => this.idle.push(res));
  }

  private cancel(row: Row): void {
    row.done = true;
    const i = this.waiting.indexOf(row);
    if (i >= 0) this.waiting.splice(i, 1);
    if (row.slot) this.owner.get(row)?.cancel(row.slot);
    this.gauges();
  }

  private wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.tick());
  }

  private tick(): void {
    this.scheduled = false;
    this.admit();
    if (this.engines.length) {
      this.next %= this.engines.length;
      const e = this.engines[this.next];
      let st: EngineStep<Row> | undefined;
      try {
        this.expire(e);
        st = e.step();
        if (st) this.report(st);
      } catch (err) {
        // A failing forward or listener must not take the server down: its engine's rows fail.
        for (const r of this.rowsOf(e)) this.fail(r, err as Error);
        st = undefined;
      }
      if (st) this.next++;
      else this.drop(e);
    }
    this.gauges();
    if (this.engines.length || this.waiting.length) this.wake();
    else for (const res of this.idle.splice(0)) res();
  }

  /** Moves waiting rows, oldest first, into an engine of their key with room. */
  private admit(): void {
    const groups = new Map<DecodeEngine<Row>, number>();
    for (let i = 0; i < this.waiting.length;) {
      const row = this.waiting[i];
      let e = this.engines.find((x) => this.keys.get(x) === row.key && x.size < this.opts.maxBatch);
      if (!e && this.engines.length >= this.opts.maxRunning) { i++; continue; }
      if (!e) {
        e = new DecodeEngine<Row>(this.model, resolveOptions(row.job.options, this.model.config, [row.job.ids.length]));
        this.engines.push(e);
        this.keys.set(e, row.key);
      }
      this.waiting.splice(i, 1);
      row.slot = e.add(row.job.ids, resolveOptions(row.job.options, this.model.config, [row.job.ids.length]), row);
      this.owner.set(row, e);
      groups.set(e, (groups.get(e) ?? 0) + 1);
    }
    for (const n of groups.values()) this.metrics?.batchSize.observe(n);
  }

  private rowsOf(e: DecodeEngine<Row>): Row[] {
    return [...this.owner].filter(([, x]) => x === e).map(([r]) => r);
  }

  /** Rows past their deadline get a TimeoutError and leave their engine. */
  private expire(e: DecodeEngine<Row>): void {
    const now = performance.now();
    for (const r of this.rowsOf(e)) {
      if (!r.done && r.job.deadline !== undefined && now > r.job.deadline) {
        this.fail(r, new TimeoutError('the request ran past its timeout'));
      }
    }
  }

  private report(st: EngineStep<Row>): void {
    let decided = 0;
    for (const s of st.rows) {
      const r = s.tag, d = s.row.decision;
      r.maxBatch = Math.max(r.maxBatch, st.rows.length);
      if (d) {
        decided += d.positions.length;
        d.positions.forEach((p, i) => { r.canvas[p] = d.tokens[i]; });
      }
      if (r.done) continue;
      const info = { nfe: s.row.nfe, batchSize: r.maxBatch };
      r.job.listener.onStep(r.canvas, info);
      if (s.finished || isFinal(r.canvas, this.model.config.eosId, s.row.opts.maskId)) this.finish(r, info);
    }
    for (const s of st.finished) this.owner.delete(s.tag);
    this.joinedForwards += st.rows.length && new Set(st.rows.map((s) => s.joinedAt)).size > 1 ? 1 : 0;
    this.metrics?.countStep(st.rows.length, decided, st.ms);
    this.metrics?.forwardRows.observe(st.rows.length);
    if (this.metrics) this.metrics.joinedForwards = this.joinedForwards;
  }

  private finish(r: Row, info: StepInfo): void {
    r.done = true;
    if (r.slot) this.owner.get(r)?.cancel(r.slot); // its text is final: its compute stops
    this.owner.delete(r);
    r.job.listener.onFinal(r.canvas, info);
  }

  private fail(r: Row, err: Error): void {
    if (r.slot) this.owner.get(r)?.cancel(r.slot);
    this.owner.delete(r);
    if (r.done) return;
    r.done = true;
    try { r.job.listener.onError(err); } catch { /* already failing */ }
  }

  private drop(e: DecodeEngine<Row>): void {
    e.dispose();
    for (const r of this.rowsOf(e)) this.owner.delete(r);
    this.engines = this.engines.filter((x) => x !== e);
    this.keys.delete(e);
  }

  private gauges(): void {
    if (!this.metrics) return;
    this.metrics.queueDepth = this.waiting.length;
    this.metrics.runningBatches = this.engines.length;
    this.metrics.runningRows = this.engines.reduce((s, e) => s + e.size, 0);
  }
}
