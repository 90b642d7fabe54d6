// What the HTTP layer sees of a scheduler: jobs, their listeners and the errors it answers with.
// Kept apart from the schedulers so that round-robin.ts (their shared loop) and the schedulers
// built on it import it without an import cycle between them.

import type { GenerateOptions } from '../decode/options.ts';

/** What the scheduler tells the owner of one row (one request). */
export interface RowListener {
  /** A step decided positions of this row; `canvas` is its generated region (masks where undecided). */
  onStep(canvas: readonly number[], info: StepInfo): void;
  /** The row's text is final: everything up to its first EOS (or the whole region) is decided. */
  onFinal(canvas: readonly number[], info: StepInfo): void;
  /** The row failed (a forward or listener threw, or it ran past its deadline); nothing follows. */
  onError(err: Error): void;
}

/** Counters reported with each step and with the final text of a row. */
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
  /**
   * false: the owner needs no onStep calls, only the final text (a plain answer without stop
   * strings); a pool worker then sends nothing per step. Default: every step.
   */
  steps?: boolean;
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
  /** Resolves when the scheduler can decode (a worker pool has loaded its models); absent: at once. */
  readonly ready?: Promise<void>;
  /** Frees what it holds (a pool's threads), after drain. */
  close?(): Promise<void>;
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
