import type { ForwardRunOptions } from '../loaded-model.ts';
import type { CudaKernel } from '../../codegen/cuda/types.ts';
import type { ParamBlock } from '../ffi/cuda-driver.ts';
import type { HostTensor } from '../buffers.ts';
import type { CompiledModule } from './compile.ts';
import type { FunctionAttributes } from './context.ts';

// The launch-side types shared by the executor, kernel setup and the device decode step. They
// live apart from executor.ts so that setup.ts and device-step.ts, which the executor imports,
// need not import it back.

/** One kernel ready to launch. */
export interface LoadedKernel {
  kernel: CudaKernel;
  fn: bigint;
  params: ParamBlock;
  attrs: FunctionAttributes | null;
  compiled: CompiledModule | null;
}

/** How one run binds its inputs and ends. */
export interface RunOptions extends ForwardRunOptions {
  /** Inputs already on the device (by input name): bound by address, not uploaded; their host tensors give only shapes. */
  deviceInputs?: Record<string, bigint>;
  /** false: do not synchronise at the end of a run that returns nothing (a later read orders after it). Default true. */
  sync?: boolean;
  /**
   * Kernels (their parameters set) launched just before and after the forward's, in the same
   * launch sequence: with CUDA graphs they are captured and replayed with it (the device decode
   * step's window and selection).
   */
  before?: { lk: LoadedKernel; grid: number[] }[];
  after?: { lk: LoadedKernel; grid: number[] }[];
}

/** What the device decode step needs of the executor whose forward it wraps (CudaExecutor provides it). */
export interface StepForward {
  /** The forward, with the step's kernels launched around it (see RunOptions). */
  run(inputs: Record<string, HostTensor>, states: Record<string, HostTensor>, want: readonly string[], opts: RunOptions): Record<string, HostTensor>;
  /** The head's x0 and confidence buffers for `rows` head rows; `allocate` makes them exist at that size. */
  decisionBuffers(rows: number, allocate?: boolean): { x0: bigint; confidence: bigint };
}
