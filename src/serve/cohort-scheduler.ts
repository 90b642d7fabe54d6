import type { LoadedModel } from '../runtime/loaded-model.ts';
import { decodeIds, type DecodeStreamEvent } from '../decode/generate.ts';
import type { ResolvedOptions } from '../decode/options.ts';
import { resolveModelOptions } from '../decode/v2-options.ts';
import type { ServeMetrics } from './metrics.ts';
import { isFinal, QueueFullError, TimeoutError, type DecodeJob, type JobHandle, type Scheduler } from './scheduler.ts';

interface Row {
  job: DecodeJob;
  key: string;
  canvas: number[];
  done: boolean;
  /** Fast-dLLM v2: tokens made final by finished blocks (with the AR tokens, which no step reports). */
  finalLength: number;
}

interface Batch {
  rows: Row[];
  gen: Generator<DecodeStreamEvent>;
  nfe: number;
}

/** Limits of the cohort scheduler. */
export interface BatchSchedulerOptions {
  maxBatch: number;
  maxQueue: number;
  /** Batches decoding at once; more waiting requests gather and start together. */
  maxRunning: number;
}

/**
 * For Fast-dLLM v2 models (their block routine is not on the row engine): batches of identical
 * decode options, stepped round-robin one forward at a time.
 *
 * Requests that wait with the same resolved options start together as one batch (decodeIds
 * rows decode what they decode alone, whatever their prompt lengths). A request that arrives
 * while batches run starts its own batch at the next tick when fewer than maxRunning run, so it
 * never waits for a running batch to end. Between two steps the event loop runs (setImmediate),
 * so HTTP keeps flowing. A row is answered as soon as its text is final; a batch whose rows are
 * all answered or cancelled stops at once.
 */
export class BatchScheduler implements Scheduler {
  private readonly waiting: Row[] = [];
  private readonly running: Batch[] = [];
  private next = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(private readonly model: LoadedModel, private readonly opts: BatchSchedulerOptions, private readonly metrics?: ServeMetrics) {}

  get queueDepth(): number {
    return this.waiting.length;
  }

  submit(job: DecodeJob): JobHandle {
    if (this.waiting.length >= this.opts.maxQueue) throw new QueueFullError(`the queue is full (${this.opts.maxQueue} requests waiting)`);
    const resolved = resolveModelOptions(job.options, this.model.config, [job.ids.length]);
    const row: Row = { job, key: groupKey(resolved), canvas: new Array(resolved.genLength).fill(resolved.maskId), done: false, finalLength: 0 };
    this.waiting.push(row);
    this.gauges();
    this.wake();
    return { cancel: () => this.cancel(row) };
  }

  drain(): Promise<void> {
    if (!this.waiting.length && !this.running.length) return Promise.resolve();
    return new Promise((res) => this.idle.push(res));
  }

  private cancel(row: Row): void {
    row.done = true;
    const i = this.waiting.indexOf(row);
    if (i >= 0) this.waiting.splice(i, 1);
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
    if (this.running.length) {
      this.next %= this.running.length;
      const b = this.running[this.next];
      let more: boolean;
      try {
        more = this.advance(b);
      } catch (e) {
        // A listener that throws must not take the server down: its batch fails, others go on.
        more = this.stop(b);
        for (const r of b.rows) if (!r.done) { r.done = true; try { r.job.listener.onError(e as Error); } catch { /* already failing */ } }
      }
      if (more) this.next++;
      else this.running.splice(this.next, 1);
    }
    this.gauges();
    if (this.running.length || this.waiting.length) this.wake();
    else for (const res of this.idle.splice(0)) res();
  }

  /** Starts batches from the waiting queue, oldest first, grouping rows with the same options. */
  private admit(): void {
    while (this.waiting.length && this.running.length < this.opts.maxRunning) {
      const key = this.waiting[0].key;
      const rows: Row[] = [];
      for (let i = 0; i < this.waiting.length && rows.length < this.opts.maxBatch;) {
        if (this.waiting[i].key === key) rows.push(...this.waiting.splice(i, 1));
        else i++;
      }
      const gen = decodeIds(this.model, rows.map((r) => r.job.ids), rows[0].job.options);
      this.running.push({ rows, gen, nfe: 0 });
      this.metrics?.batchSize.observe(rows.length);
    }
  }

  /** One forward of batch `b`; false once it is over. */
  private advance(b: Batch): boolean {
    const now = performance.now();
    for (const r of b.rows) {
      if (!r.done && r.job.deadline !== undefined && now > r.job.deadline) {
        r.done = true;
        r.job.listener.onError(new TimeoutError('the request ran past its timeout'));
      }
    }
    if (b.rows.every((r) => r.done)) return this.stop(b);
    let ev: IteratorResult<DecodeStreamEvent>;
    try {
      ev = b.gen.next();
    } catch (e) {
      for (const r of b.rows) if (!r.done) { r.done = true; r.job.listener.onError(e as Error); }
      return false;
    }
    if (ev.done) return false;
    const info = () => ({ nfe: b.nfe, batchSize: b.rows.length });
    if (ev.value.type === 'step') {
      b.nfe = ev.value.nfe;
      let decided = 0;
      for (const d of ev.value.rows) {
        const r = b.rows[d.row];
        decided += d.positions.length;
        d.positions.forEach((p, i) => { r.canvas[p] = d.tokens[i]; });
        if (r.done) continue;
        r.job.listener.onStep(r.canvas, info());
        if (isFinal(r.canvas, this.model.config.eosId, this.maskOf(r))) this.finish(r, b);
      }
      this.metrics?.countStep(b.rows.length, decided, ev.value.ms);
    } else if (ev.value.type === 'block' && ev.value.final) {
      for (const f of ev.value.final) {
        const r = b.rows[f.row];
        f.tokens.forEach((t, i) => { r.canvas[r.finalLength + i] = t; });
        r.finalLength += f.tokens.length;
        if (r.done) continue;
        r.job.listener.onStep(r.canvas, info());
        if (isFinal(r.canvas, this.model.config.eosId, this.maskOf(r))) this.finish(r, b);
      }
    } else if (ev.value.type === 'done') {
      ev.value.result.tokens.forEach((t, i) => {
        const r = b.rows[i];
        r.canvas = t;
        if (!r.done) this.finish(r, b);
      });
      return false;
    }
    return true;
  }

  private maskOf(r: Row): number {
    return r.job.options.maskId ?? this.model.config.maskId;
  }

  private finish(r: Row, b: Batch): void {
    r.done = true;
    r.job.listener.onFinal(r.canvas, { nfe: b.nfe, batchSize: b.rows.length });
  }

  /** Ends a batch early (its generator's finally frees the session). */
  private stop(b: Batch): false {
    b.gen.return(undefined);
    return false;
  }

  private gauges(): void {
    if (!this.metrics) return;
    this.metrics.queueDepth = this.waiting.length;
    this.metrics.runningBatches = this.running.length;
    this.metrics.runningRows = this.running.reduce((s, b) => s + b.rows.length, 0);
  }
}

/** Rows may share a batch when their resolved options are equal (the prompt aside). */
function groupKey(o: ResolvedOptions): string {
  return JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
