// The messages between the server's thread and its pool workers (worker-pool.ts, engine-worker.ts).
// Everything here crosses a thread boundary by structured clone: plain data only.

import type { GenerateOptions } from '../decode/options.ts';
import type { HostBackendName } from '../runtime/host-backends.ts';
import type { SchedulerLimits } from './round-robin.ts';
import type { StepInfo } from './job.ts';

/** What a worker is started with (its workerData). */
export interface WorkerInit {
  /** Model directory, loaded on the CPU with this backend (the server's model, once more). */
  dir: string;
  backend: HostBackendName;
  limits: SchedulerLimits;
}

/** Server thread → worker. */
export type ToWorker =
  | { t: 'submit'; id: number; ids: number[]; options: GenerateOptions; /** ms left before the row times out (undefined: none) */ timeLeftMs?: number; steps?: boolean }
  | { t: 'cancel'; id: number };

/** A scheduler's metrics call, relayed (SchedulerMetrics, by method). */
export type MetricEvent =
  | ['step', number, number, number, boolean]
  | ['admitted', number]
  | ['gauges', number, number, number];

/** Worker → server thread. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'load-failed'; message: string }
  | { t: 'step'; id: number; canvas: number[]; info: StepInfo }
  | { t: 'final'; id: number; canvas: number[]; info: StepInfo }
  | { t: 'error'; id: number; timeout: boolean; message: string }
  | { t: 'metrics'; events: MetricEvent[] };
