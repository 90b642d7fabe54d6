import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validGemm, type CpuGemmConfig, type CpuTuning } from '../codegen/cpu/tuning.ts';
import { env } from '../env.ts';
import { mergeTuningFile } from './tuning-file.ts';

// This machine's CPU tuning file, apart from the tuner that writes it and the native backend
// that reads it, so neither imports the other (DESIGN.md, "Stores apart from their users").

/** One timed config. `ms` sums the medians over the token counts; a failure scores Infinity. */
export interface CpuTuneTrial { config: CpuGemmConfig; ms: number; gflops: number }

/** The tuner's verdict for one GEMM shape: every trial, fastest first, and the default's time. */
export interface CpuTuneResult { key: string; n: number; k: number; tokens: number[]; trials: CpuTuneTrial[]; best: CpuGemmConfig; defaultMs: number }

/** Where this machine's tuned configs live: one file per CPU model and core count. */
export function cpuTuningFile(): string {
  const host = `${cpus()[0]?.model ?? 'cpu'}|${cpus().length}|${process.arch}`;
  return join(env.cacheDir, 'tune', `cpu-${createHash('sha256').update(host).digest('hex').slice(0, 12)}.json`);
}

/** Reads the tuned GEMM configs; a missing or malformed file means defaults (with a warning). */
export function loadCpuTuning(file = cpuTuningFile()): CpuTuning {
  if (!existsSync(file)) return {};
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { gemm?: CpuTuning };
    const out: CpuTuning = {};
    for (const [k, c] of Object.entries(j.gemm ?? {})) if (/^n\d+_k\d+$/.test(k) && validGemm(c)) out[k] = { kb: c.kb, mr: c.mr };
    return out;
  } catch (e) {
    process.stderr.write(`fastdllm: ignoring unreadable tuning file ${file}: ${(e as Error).message}\n`);
    return {};
  }
}

/** Merges results into the tuning file (see mergeTuningFile). */
export function saveCpuTuning(results: CpuTuneResult[], file = cpuTuningFile()): void {
  mergeTuningFile(file, { host: cpus()[0]?.model, cores: cpus().length },
    results.map((r) => ({ key: r.key, best: r.best, trials: { tokens: r.tokens, trials: r.trials.map((t) => ({ ...t.config, ms: t.ms })) } })));
}
