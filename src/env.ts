import { homedir, availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * Every FASTDLLM_* knob, typed and documented, read once (Triton style: one module owns them).
 */
export interface FastdllmEnv {
  /**
   * FASTDLLM_DEBUG=0..6, each level adding to the ones below, on both targets: 1 compile events
   * (compiled / cache hit, overrides used), 2 per-launch times (per node on the CPU, per kernel on
   * CUDA; CPU also sums by op at exit), 3 the fused IR (and CUDA's plan of kernels), 4 the
   * generated source (C++ module / CUDA modules), 5 PTX on CUDA, the module's assembly on the CPU
   * (g++ -S), 6 a per-step decode trace (one line per forward: kind, block, nfe, each row's
   * chosen positions and tokens). All on stderr.
   */
  debug: number;
  /** FASTDLLM_CACHE_DIR: compiled-kernel cache (default ~/.cache/fastdllm). */
  cacheDir: string;
  /** FASTDLLM_DUMP_DIR: write every generated source here. */
  dumpDir: string | undefined;
  /** FASTDLLM_OVERRIDE_DIR: load a hand-edited source from here instead of the generated one (same file name). */
  overrideDir: string | undefined;
  /**
   * FASTDLLM_THREADS: CPU kernel threads. When it is not set, OpenMP's own OMP_NUM_THREADS is
   * honoured, else all cores; when set, it wins over OMP_NUM_THREADS (it is the knob we document).
   */
  threads: number;
  /** CXX: the C++ compiler for CPU kernels. */
  cxx: string | undefined;
  /** FASTDLLM_CUDA_LIB / FASTDLLM_NVRTC_LIB: explicit paths to libcuda / libnvrtc. */
  cudaLib: string | undefined;
  nvrtcLib: string | undefined;
  /** FASTDLLM_CUDA_GRAPHS=1: replay repeated launch sequences as CUDA graphs (see CudaExecutorOptions.graphs). */
  cudaGraphs: boolean;
  /**
   * FASTDLLM_DEVICE_SELECT=0: LLaDA's greedy GPU steps select on the host from x0 and confidence
   * read back, instead of selecting and scattering into the device canvas (default 1; benches compare).
   */
  deviceSelect: boolean;
  /**
   * FASTDLLM_POISON=0|1: fill every output buffer with NaN (ints: a sentinel) before its kernel
   * runs, so a kernel that skips part of its output shows it. Unset: on for the CPU (a fill per
   * kernel, within noise on the embedded model's decode), off for CUDA (a fill launch per buffer,
   * and no CUDA-graph replay; tests ask for it); 1 turns it on for a GPU run too.
   */
  poison: boolean | undefined;
}

function readEnv(): FastdllmEnv {
  const e = process.env;
  const int = (name: string, dflt: number) => {
    const v = e[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`environment: ${name}=${v} must be a non-negative integer`);
    return n;
  };
  return {
    debug: int('FASTDLLM_DEBUG', 0),
    cacheDir: e.FASTDLLM_CACHE_DIR || join(e.XDG_CACHE_HOME || join(homedir(), '.cache'), 'fastdllm'),
    dumpDir: e.FASTDLLM_DUMP_DIR || undefined,
    overrideDir: e.FASTDLLM_OVERRIDE_DIR || undefined,
    threads: int('FASTDLLM_THREADS', 0) || (parseInt(e.OMP_NUM_THREADS ?? '', 10) || 0) || availableParallelism(),
    cxx: e.CXX || undefined,
    cudaLib: e.FASTDLLM_CUDA_LIB || undefined,
    nvrtcLib: e.FASTDLLM_NVRTC_LIB || undefined,
    cudaGraphs: int('FASTDLLM_CUDA_GRAPHS', 0) === 1,
    deviceSelect: int('FASTDLLM_DEVICE_SELECT', 1) === 1,
    poison: e.FASTDLLM_POISON ? int('FASTDLLM_POISON', 0) === 1 : undefined,
  };
}

/** The knobs, read at first use. */
export const env: FastdllmEnv = readEnv();

/** Prints to stderr when FASTDLLM_DEBUG >= level. */
export function debugLog(level: number, msg: string): void {
  if (env.debug >= level) process.stderr.write(`[fastdllm] ${msg}\n`);
}
