/**
 * Tuning spaces of the CUDA kernels (Triton style: a flat list of configs and a default that is
 * valid for every shape, so search is optional). `valid` says why a config cannot serve a shape.
 */

/**
 * GEMM tile config. simt: the f32 core (fixed 32x64, BK 16); mma: the bf16 tensor-core core.
 * splitK (mma, not the LM head): that many CTAs share each output tile's K range, and a second
 * kernel adds their sums and runs the epilogue (default 1: one kernel).
 */
export interface CudaGemmConfig {
  core: 'simt' | 'mma';
  bm: number;
  bn: number;
  bk: number;
  stages: number;
  splitK?: number;
}

/** Static shape of a GEMM: out [M, N] = A [M, K] W^T; M is run-time and any value is fine. */
export interface GemmShape {
  n: number;
  k: number;
}

export const GEMM_SPACE: readonly CudaGemmConfig[] = [
  { core: 'simt', bm: 32, bn: 64, bk: 16, stages: 1 },
  ...[32, 64].flatMap((bm) => [32, 64].flatMap((bk) => [2, 3, 4].map((stages) => ({ core: 'mma' as const, bm, bn: 64, bk, stages })))),
  // Split-K for the decode step's weight-bound GEMMs with few column tiles (N = 4096: 64 CTAs on 132 SMs).
  // (BK 64 fits 48 KB of shared memory in 2 or 3 stages.)
  ...[2, 3].flatMap((stages) => [2, 4].map((splitK) => ({ core: 'mma' as const, bm: 32, bn: 64, bk: 64, stages, splitK }))),
];

/** A config as kernel names and reports spell it: mma32x64x64s3, with k2 / k4 for split-K. */
export function gemmConfigLabel(c: CudaGemmConfig): string {
  return `${c.core}${c.bm}x${c.bn}x${c.bk}s${c.stages}${(c.splitK ?? 1) > 1 ? `k${c.splitK}` : ''}`;
}

/** Whether two configs are the same (an absent splitK is 1). */
export function sameGemmConfig(a: CudaGemmConfig, b: CudaGemmConfig): boolean {
  return a.core === b.core && a.bm === b.bm && a.bn === b.bn && a.bk === b.bk && a.stages === b.stages && (a.splitK ?? 1) === (b.splitK ?? 1);
}

/** SMs the default tile choice plans for when the GPU is not known (H100 / H200 SXM: 132). */
export const DEFAULT_SMS = 132;

/**
 * The config used when nothing was tuned: valid for any N, K (edges are guarded). bf16 streams
 * 64-wide k tiles three deep, so a CTA keeps ~24 KB of weights in flight (what a decode-step GEMM,
 * weight-bound with few CTAs, needs); the LM head keeps 32-wide tiles to leave room for its
 * statistics tile in 48 KB, and has thousands of CTAs anyway.
 *
 * Given the GEMM's shape, a bf16 GEMM whose column tiles (N / 64) are fewer than the GPU's `sms`
 * is split in K (2, else 4 k ranges) so one row tile fills at least one wave: N = 4096 is 64 CTAs,
 * 256 with split-K 4 on 132 SMs (H100 / H200), 128 with split-K 2 on 108 (A100). The choice
 * depends on N, K and the SM count only, never on M (the batch), so a row's sums are added in the
 * same order whatever rows share its batch.
 */
export function defaultGemmConfig(precision: 'f32' | 'bf16', head = false, shape?: GemmShape, sms = DEFAULT_SMS): CudaGemmConfig {
  if (precision === 'f32') return GEMM_SPACE[0];
  const base: CudaGemmConfig = { core: 'mma', bm: 32, bn: 64, bk: head ? 32 : 64, stages: 3 };
  if (head || !shape) return base;
  const tiles = Math.ceil(shape.n / base.bn);
  if (tiles >= sms) return base;
  const valid = [2, 4].map((splitK) => ({ ...base, splitK })).filter((c) => gemmValid(c, shape, precision) === null);
  return valid.find((c) => tiles * c.splitK >= sms) ?? valid.at(-1) ?? base;
}

/** Null when `cfg` can run `shape` for weights of `precision` (with the head's statistics tile when `head`), else the reason. */
export function gemmValid(cfg: CudaGemmConfig, shape: GemmShape, precision: 'f32' | 'bf16', head = false): string | null {
  if (cfg.core === 'simt' && precision !== 'f32') return 'the simt core reads f32 weights';
  if (cfg.core === 'mma' && precision !== 'bf16') return 'the mma core reads bf16 weights';
  if (cfg.core === 'simt' && (cfg.bm !== 32 || cfg.bn !== 64 || cfg.bk !== 16)) return 'the simt core is 32x64x16';
  if (cfg.core === 'mma' && (cfg.bn !== 64 || cfg.bm % 32 !== 0 || cfg.bk % 32 !== 0 || cfg.stages < 2)) return 'mma: BN 64, BM a multiple of 32, BK of 32, 2+ stages';
  if (shape.n < 1 || shape.k < 1) return 'empty matrix';
  const split = cfg.splitK ?? 1;
  if (split !== 1) {
    if (cfg.core !== 'mma' || head) return 'split-K: mma core only, not the LM head';
    if (![2, 4].includes(split)) return 'split-K: 2 or 4 splits';
    if (shape.k % (split * cfg.bk) !== 0) return `split-K: K ${shape.k} is not a multiple of ${split} x BK ${cfg.bk}`;
  }
  if (gemmSharedBytes(cfg, head) > 48 * 1024) return 'more than 48 KB of static shared memory';
  return null;
}

/** Static shared memory of a GEMM config (head tile included when `head`). */
export function gemmSharedBytes(cfg: CudaGemmConfig, head: boolean): number {
  const tile = head ? cfg.bm * (cfg.bn + 1) * 4 : 4;
  if (cfg.core === 'simt') return cfg.bk * (cfg.bm + 4) * 4 + cfg.bk * (cfg.bn + 4) * 4 + cfg.bm * 4 + tile;
  return cfg.stages * (cfg.bm + cfg.bn) * (cfg.bk + 8) * 2 + cfg.bm * 4 + tile;
}

/** Attention config: BKV keys per chunk (one per lane), RPW query rows per warp, 4 warps. */
export interface AttentionConfig {
  bkv: number;
  rpw: number;
  threads: number;
}

export const ATTENTION_SPACE: readonly AttentionConfig[] = [32, 16, 8].flatMap((bkv) => [4, 2, 1].map((rpw) => ({ bkv, rpw, threads: 128 })));

/** Static shared memory of an attention config at head dim `hd`. */
export function attentionSharedBytes(cfg: AttentionConfig, hd: number): number {
  const rows = cfg.rpw * (cfg.threads / 32);
  return (rows * hd + cfg.bkv * (hd + 1) + cfg.bkv * hd) * 4 + cfg.bkv;
}

export function attentionValid(cfg: AttentionConfig, hd: number): string | null {
  if (cfg.bkv > 32) return 'one key per lane: BKV <= 32';
  if (attentionSharedBytes(cfg, hd) > 48 * 1024) return `head dim ${hd} needs more than 48 KB of shared memory with this config`;
  return null;
}

/** The first config of the space (largest chunks and rows first) that fits the head dim. */
export function defaultAttentionConfig(hd: number): AttentionConfig {
  const c = ATTENTION_SPACE.find((x) => attentionValid(x, hd) === null);
  if (!c) throw new Error(`attention: head dim ${hd} does not fit in 48 KB of shared memory with any config`);
  return c;
}
