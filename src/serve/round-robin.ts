import type { SchedulerMetrics } from './metrics.ts';
import { QueueFullError, TimeoutError, type DecodeJob, type JobHandle, type Scheduler } from './job.ts';

/** What the shared loop needs of a row: its job, and whether it has been answered. */
export interface QueuedRow {
  job: DecodeJob;
  /** Answered, failed or cancelled: no listener call may follow. */
  done: boolean;
}

/** Limits every round-robin scheduler takes. */
export interface SchedulerLimits {
  /** Rows sharing one forward (one engine, one batch) at most. */
  maxBatch: number;
  /** Requests waiting at most; one more is refused with QueueFullError (HTTP 429). */
  maxQueue: number;
  /** Units (engines, batches) decoding at once. */
  maxRunning: number;
}

/**
 * The part both schedulers share: a bounded waiting queue, and a loop that steps the running
 * units (row engines, cohort batches) round-robin, one forward per tick. Ticks are scheduled with
 * setImmediate, so the event loop (HTTP, client disconnects) runs between two forwards.
 *
 * Subclasses say what differs: how a job becomes a row, how waiting rows are admitted into units,
 * how one forward of a unit advances, how a unit fails, and what cancelling a running row stops.
 * `R` is their row, `U` their running unit.
 */
export abstract class RoundRobinScheduler<R extends QueuedRow, U> implements Scheduler {
  /** Rows not yet admitted, oldest first. */
  protected readonly waiting: R[] = [];
  /** Units decoding, in round-robin order. */
  protected readonly running: U[] = [];
  /** Index in `running` of the unit the next tick steps. */
  private next = 0;
  private scheduled = false;
  private readonly idle: (() => void)[] = [];

  constructor(protected readonly limits: SchedulerLimits, protected readonly metrics?: SchedulerMetrics) {}

  get queueDepth(): number {
    return this.waiting.length;
  }

  submit(job: DecodeJob): JobHandle {
    if (this.waiting.length >= this.limits.maxQueue) throw new QueueFullError(`the queue is full (${this.limits.maxQueue} requests waiting)`);
    const row = this.makeRow(job);
    this.waiting.push(row);
    this.gauges();
    this.wake();
    return { cancel: () => this.cancel(row) };
  }

  drain(): Promise<void> {
    if (!this.waiting.length && !this.running.length) return Promise.resolve();
    return new Promise((res) => this.idle.push(res));
  }

  /** The row for a new job; its options are resolved here, so bad options throw before it queues. */
  protected abstract makeRow(job: DecodeJob): R;
  /** Moves waiting rows into running units (a unit with room, or a new one while maxRunning allows). */
  protected abstract admit(): void;
  /** One forward of unit `u`; false once it is over. A throw fails the unit through `abort`. */
  protected abstract advance(u: U): boolean;
  /** `advance(u)` threw (a forward or a listener): the unit's unanswered rows get `err`. */
  protected abstract abort(u: U, err: Error): void;
  /** Rows decoding in unit `u` (the runningRows gauge). */
  protected abstract sizeOf(u: U): number;
  /** A running row's client went away: stop its compute. Waiting rows need nothing (they are dequeued). */
  protected cancelRunning(_row: R): void {}
  /** Unit `u` has left the loop: free what it holds. */
  protected retire(_u: U): void {}

  /** Calls `fail` with a TimeoutError for each unanswered row of `rows` past its deadline. */
  protected expire(rows: Iterable<R>, fail: (r: R, err: TimeoutError) => void): void {
    const now = performance.now();
    for (const r of rows) {
      if (!r.done && r.job.deadline !== undefined && now > r.job.deadline) fail(r, new TimeoutError('the request ran past its timeout'));
    }
  }

  /** Answers a row with an error, once; a listener that throws here is ignored (the row is already failing). */
  protected failQuietly(r: R, err: Error): void {
    if (r.done) return;
    r.done = true;
    try { r.job.listener.onError(err); } catch { /* already failing */ }
  }

  private cancel(row: R): void {
    row.done = true;
    const i = this.waiting.indexOf(row);
    if (i >= 0) this.waiting.splice(i, 1);
    this.cancelRunning(row);
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
      const u = this.running[this.next];
      let more: boolean;
      try {
        more = this.advance(u);
      } catch (err) {
        // A failing forward or listener must not take the server down: its unit fails, others go on.
        this.abort(u, err as Error);
        more = false;
      }
      if (more) this.next++;
      else {
        this.running.splice(this.next, 1);
        this.retire(u);
      }
    }
    this.gauges();
    if (this.running.length || this.waiting.length) this.wake();
    else for (const res of this.idle.splice(0)) res();
  }

  private gauges(): void {
    this.metrics?.setGauges(this.waiting.length, this.running.length, this.running.reduce((s, u) => s + this.sizeOf(u), 0));
  }
}
