import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GEMM_SPACE, sameGemmConfig, type CudaGemmConfig, type GemmShape } from '../../codegen/cuda/tuning.ts';
import type { CudaPrecision } from '../../codegen/cuda/types.ts';
import { env, debugLog } from '../../env.ts';
import type { DeviceInfo } from './context.ts';
import { mergeTuningFile } from '../tuning-file.ts';

// A GPU's tuning file, apart from the tuner that writes it and the executor that reads it, so
// neither imports the other (DESIGN.md, "Stores apart from their users").

/** The tuning key of a GEMM: its packed shape, and whether it is the LM head (its own epilogue and tile limits). */
export const cudaGemmKey = (s: GemmShape, head: boolean) => `n${s.n}_k${s.k}${head ? '_head' : ''}`;

/** One timed config: median time per launch, ms, summed over the window sizes. */
export interface CudaTuneTrial { config: CudaGemmConfig; ms: number }

/** The tuner's verdict for one GEMM shape: every trial, fastest first, and the default's time. */
export interface CudaTuneResult { key: string; n: number; k: number; head: boolean; trials: CudaTuneTrial[]; best: CudaGemmConfig; defaultMs: number }

/** A tile config by GEMM shape (and head or not), as PlanOptions.gemmConfig takes it; undefined: the default. */
export type CudaTuned = (shape: GemmShape, head: boolean) => CudaGemmConfig | undefined;

/** Where a GPU's tuned GEMM configs live: one file per device name, arch and precision. */
export function cudaTuningFile(info: Pick<DeviceInfo, 'name' | 'arch'>, precision: CudaPrecision): string {
  const slug = info.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return join(env.cacheDir, 'tune', `cuda-${slug}-${info.arch}-${precision}.json`);
}

/**
 * The tuned configs of a file as PlanOptions.gemmConfig takes them; a missing file means
 * defaults, an unreadable one too (with a warning naming it). planCuda checks each config
 * against its shape again and falls back to the default where it does not fit.
 */
export function loadCudaTuning(file: string): CudaTuned | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { gemm?: Record<string, CudaGemmConfig> };
    const known = new Map<string, CudaGemmConfig>();
    for (const [k, c] of Object.entries(j.gemm ?? {})) {
      const same = c && typeof c === 'object' ? GEMM_SPACE.find((x) => sameGemmConfig(x, c)) : undefined;
      if (/^n\d+_k\d+(_head)?$/.test(k) && same) known.set(k, same);
    }
    debugLog(1, `cuda tuning: ${known.size} GEMM configs from ${file}`);
    return (shape, head) => known.get(cudaGemmKey(shape, head));
  } catch (e) {
    process.stderr.write(`fastdllm: ignoring unreadable tuning file ${file}: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** Merges results into the tuning file (see mergeTuningFile). */
export function saveCudaTuning(results: CudaTuneResult[], info: DeviceInfo, file: string): void {
  mergeTuningFile(file, { device: info.name, arch: info.arch, driver: info.driverVersion },
    results.map((r) => ({ key: r.key, best: r.best, trials: r.trials.map((t) => ({ ...t.config, ms: t.ms })) })));
}
