/**
 * The CPU GEMM's tuning space (Triton style: a flat list of configs, a key, a default that is
 * valid for every shape). A config never changes results, only speed: every output element is
 * one FMA chain in k order whatever the k-block or the row tile.
 */
export interface CpuGemmConfig {
  /** k-block: how much of a 16-column weight panel is streamed per pass (kept in L1). */
  kb: number;
  /** Most rows per register tile (x MR broadcasts, 2 x MR accumulators); M is cut into tiles of equal size <= mr. */
  mr: number;
}

/** Tuned configs by GEMM key (`n{N}_k{K}`). */
export type CpuTuning = Record<string, CpuGemmConfig>;

export const DEFAULT_GEMM: CpuGemmConfig = { kb: 256, mr: 6 };

export const gemmKey = (n: number, k: number) => `n${n}_k${k}`;

/** A config is valid for any shape when 1 <= mr <= 6 and kb >= 1. */
export function validGemm(c: CpuGemmConfig): boolean {
  return Number.isInteger(c.kb) && c.kb >= 1 && Number.isInteger(c.mr) && c.mr >= 1 && c.mr <= 6;
}

/** The configs worth timing for a weight of inner size k. */
export function gemmSpace(k: number): CpuGemmConfig[] {
  const kbs = [...new Set([64, 128, 256, 512, 1024].map((v) => Math.min(v, k)))];
  const out: CpuGemmConfig[] = [];
  for (const kb of kbs) for (const mr of [4, 6]) out.push({ kb, mr });
  return out;
}

export const isDefaultGemm = (c: CpuGemmConfig) => c.kb === DEFAULT_GEMM.kb && c.mr === DEFAULT_GEMM.mr;
