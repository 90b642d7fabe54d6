import type { LoadedModel } from '../runtime/loaded-model.ts';
import { resolveOptions, type ResolvedOptions } from '../decode/options.ts';
import { DecodeEngine, engineKey, type EngineRow, type EngineStep } from '../decode/engine.ts';
import type { SchedulerMetrics } from './metrics.ts';
import { isFinal, type DecodeJob, type StepInfo } from './job.ts';
import { RoundRobinScheduler, type SchedulerLimits } from './round-robin.ts';

/** Limits of the engine scheduler: a row whose key has no engine with room waits in the queue. */
export type EngineSchedulerOptions = SchedulerLimits;

interface Row {
  job: DecodeJob;
  /** The request's options, resolved once at submission (the engine decodes with them). */
  opts: ResolvedOptions;
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
 * the event loop running between forwards (RoundRobinScheduler), so HTTP keeps flowing.
 */
export class EngineScheduler extends RoundRobinScheduler<Row, DecodeEngine<Row>> {
  private readonly keys = new Map<DecodeEngine<Row>, string>();
  /** The engine each admitted, unanswered row decodes in. */
  private readonly owner = new Map<Row, DecodeEngine<Row>>();

  constructor(private readonly model: LoadedModel, opts: EngineSchedulerOptions, metrics?: SchedulerMetrics) {
    super(opts, metrics);
  }

  protected makeRow(job: DecodeJob): Row {
    const o = resolveOptions(job.options, this.model.config, [job.ids.length]);
    return { job, opts: o, key: engineKey(this.model, o), canvas: new Array(o.genLength).fill(o.maskId), done: false, maxBatch: 0 };
  }

  /** Stops the row's compute and forgets its engine (a cancelled row must not stay in `owner` until the engine retires). */
  protected cancelRunning(row: Row): void {
    if (row.slot) this.owner.get(row)?.cancel(row.slot);
    this.owner.delete(row);
  }

  protected advance(e: DecodeEngine<Row>): boolean {
    this.expire(this.rowsOf(e), (r, err) => this.fail(r, err));
    const st = e.step();
    if (st) this.report(st);
    return st !== undefined;
  }

  protected abort(e: DecodeEngine<Row>, err: Error): void {
    for (const r of this.rowsOf(e)) this.fail(r, err);
  }

  protected retire(e: DecodeEngine<Row>): void {
    e.dispose();
    for (const r of this.rowsOf(e)) this.owner.delete(r);
    this.keys.delete(e);
  }

  protected sizeOf(e: DecodeEngine<Row>): number {
    return e.size;
  }

  /** Moves waiting rows, oldest first, into an engine of their key with room. */
  protected admit(): void {
    const groups = new Map<DecodeEngine<Row>, number>();
    for (let i = 0; i < this.waiting.length;) {
      const row = this.waiting[i];
      let e = this.running.find((x) => this.keys.get(x) === row.key && x.size < this.limits.maxBatch);
      if (!e && this.running.length >= this.limits.maxRunning) { i++; continue; }
      if (!e) {
        e = new DecodeEngine<Row>(this.model, row.opts);
        this.running.push(e);
        this.keys.set(e, row.key);
      }
      this.waiting.splice(i, 1);
      row.slot = e.add(row.job.ids, row.opts, row);
      this.owner.set(row, e);
      groups.set(e, (groups.get(e) ?? 0) + 1);
    }
    for (const n of groups.values()) this.metrics?.countAdmitted(n);
  }

  private rowsOf(e: DecodeEngine<Row>): Row[] {
    return [...this.owner].filter(([, x]) => x === e).map(([r]) => r);
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
      if (r.job.steps !== false) r.job.listener.onStep(r.canvas, info);
      if (s.finished || isFinal(r.canvas, this.model.config.eosId, s.row.opts.maskId)) this.finish(r, info);
    }
    for (const s of st.finished) this.owner.delete(s.tag);
    this.metrics?.countStep(st.rows.length, decided, st.ms, st.joined);
  }

  private finish(r: Row, info: StepInfo): void {
    r.done = true;
    this.cancelRunning(r); // its text is final: its compute stops
    r.job.listener.onFinal(r.canvas, info);
  }

  /** The row leaves its engine and, unless already answered, gets `err`. */
  private fail(r: Row, err: Error): void {
    this.cancelRunning(r);
    this.failQuietly(r, err);
  }
}
