import type { LoadedModel } from '../runtime/loaded-model.ts';
import { decodeIds, type DecodeStreamEvent } from '../decode/generate.ts';
import type { ResolvedOptions } from '../decode/options.ts';
import { resolveModelOptions } from '../decode/v2-options.ts';
import type { SchedulerMetrics } from './metrics.ts';
import { isFinal, type DecodeJob } from './job.ts';
import { RoundRobinScheduler, type SchedulerLimits } from './round-robin.ts';

interface Row {
  job: DecodeJob;
  /** The mask id its options resolve to (resolved once, at submission). */
  maskId: number;
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

/** Limits of the cohort scheduler: while maxRunning batches run, waiting requests gather and start together. */
export type BatchSchedulerOptions = SchedulerLimits;

/**
 * For Fast-dLLM v2 models (their block routine is not on the row engine): batches of identical
 * decode options, stepped round-robin one forward at a time.
 *
 * Requests that wait with the same resolved options start together as one batch (decodeIds
 * rows decode what they decode alone, whatever their prompt lengths). A request that arrives
 * while batches run starts its own batch at the next tick when fewer than maxRunning run, so it
 * never waits for a running batch to end. Between two steps the event loop runs
 * (RoundRobinScheduler), so HTTP keeps flowing. A row is answered as soon as its text is final;
 * a batch whose rows are all answered or cancelled stops at once.
 */
export class BatchScheduler extends RoundRobinScheduler<Row, Batch> {
  constructor(private readonly model: LoadedModel, opts: BatchSchedulerOptions, metrics?: SchedulerMetrics) {
    super(opts, metrics);
  }

  protected makeRow(job: DecodeJob): Row {
    const resolved = resolveModelOptions(job.options, this.model.config, [job.ids.length]);
    return { job, maskId: resolved.maskId, key: groupKey(resolved), canvas: new Array(resolved.genLength).fill(resolved.maskId), done: false, finalLength: 0 };
  }

  protected abort(b: Batch, err: Error): void {
    this.stop(b);
    for (const r of b.rows) this.failQuietly(r, err);
  }

  protected sizeOf(b: Batch): number {
    return b.rows.length;
  }

  /** Starts batches from the waiting queue, oldest first, grouping rows with the same options. */
  protected admit(): void {
    while (this.waiting.length && this.running.length < this.limits.maxRunning) {
      const key = this.waiting[0].key;
      const rows: Row[] = [];
      for (let i = 0; i < this.waiting.length && rows.length < this.limits.maxBatch;) {
        if (this.waiting[i].key === key) rows.push(...this.waiting.splice(i, 1));
        else i++;
      }
      const gen = decodeIds(this.model, rows.map((r) => r.job.ids), rows[0].job.options);
      this.running.push({ rows, gen, nfe: 0 });
      this.metrics?.countAdmitted(rows.length);
    }
  }

  /** One forward of batch `b`; false once it is over. */
  protected advance(b: Batch): boolean {
    // Not failQuietly: a listener that throws on its timeout fails the whole batch (abort), as a
    // listener that throws during a step does.
    this.expire(b.rows, (r, err) => { r.done = true; r.job.listener.onError(err); });
    if (b.rows.every((r) => r.done)) return this.stop(b);
    let ev: IteratorResult<DecodeStreamEvent>;
    try {
      ev = b.gen.next();
    } catch (e) {
      for (const r of b.rows) if (!r.done) { r.done = true; r.job.listener.onError(e as Error); }
      return false;
    }
    if (ev.done) return false;
    if (ev.value.type === 'step') {
      b.nfe = ev.value.nfe;
      let decided = 0;
      for (const d of ev.value.rows) {
        const r = b.rows[d.row];
        decided += d.positions.length;
        d.positions.forEach((p, i) => { r.canvas[p] = d.tokens[i]; });
        this.changed(r, b);
      }
      this.metrics?.countStep(b.rows.length, decided, ev.value.ms, false); // a cohort's rows start together
    } else if (ev.value.type === 'block' && ev.value.final) {
      for (const f of ev.value.final) {
        const r = b.rows[f.row];
        f.tokens.forEach((t, i) => { r.canvas[r.finalLength + i] = t; });
        r.finalLength += f.tokens.length;
        this.changed(r, b);
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

  /** Shows an unanswered row its new canvas, and answers it once its text is final. */
  private changed(r: Row, b: Batch): void {
    if (r.done) return;
    if (r.job.steps !== false) r.job.listener.onStep(r.canvas, { nfe: b.nfe, batchSize: b.rows.length });
    if (isFinal(r.canvas, this.model.config.eosId, r.maskId)) this.finish(r, b);
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
}

/** Rows may share a batch when their resolved options are equal (the prompt aside). */
function groupKey(o: ResolvedOptions): string {
  return JSON.stringify(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
