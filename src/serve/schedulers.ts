import type { LoadedModel } from '../runtime/loaded-model.ts';
import { isBlockDiffusion } from '../models/fast-dllm-qwen.ts';
import { BatchScheduler } from './cohort-scheduler.ts';
import { EngineScheduler } from './scheduler.ts';
import type { Scheduler } from './job.ts';
import type { SchedulerMetrics } from './metrics.ts';
import type { SchedulerLimits } from './round-robin.ts';

/**
 * The scheduler that decodes a model's requests in this thread: the row engine's continuous
 * batching, or for Fast-dLLM v2 (whose block routine is not on the row engine) cohorts of
 * identical options. The server uses it directly, and each pool worker runs one.
 */
export function localScheduler(model: LoadedModel, limits: SchedulerLimits, metrics?: SchedulerMetrics): Scheduler {
  return isBlockDiffusion(model.config) ? new BatchScheduler(model, limits, metrics) : new EngineScheduler(model, limits, metrics);
}
