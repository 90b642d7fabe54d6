import { cType, f32Literal, identNumber } from './text.ts';
import type { CudaPrecision, DeviceDType } from './types.ts';
import { gemmConfigLabel, type CudaGemmConfig } from './tuning.ts';

/** One column range of a multi-output GEMM: where its pairs go and whether RoPE rotates them. */
export interface GemmSegment {
  width: number;
  rope: { headDim: number; theta: number } | null;
  /** Rows go to KV-cache rows b*Kmax + start + t instead of dense rows. */
  cache: boolean;
  out: DeviceDType;
}

export type GemmEpilogue =
  | { kind: 'seg'; segs: GemmSegment[] }
  | { kind: 'glu'; out: DeviceDType }
  | { kind: 'head'; writeLogits: boolean };

/** Everything that shapes a GEMM kernel's source. */
export interface GemmDesc {
  precision: CudaPrecision;
  n: number;
  k: number;
  /** Storage of the A operand. */
  a: DeviceDType;
  gather: boolean;
  norm: { eps: number } | null;
  bias: boolean;
  res: boolean;
  epi: GemmEpilogue;
  cfg: CudaGemmConfig;
}

/** The kernel parameters every GEMM takes, in order (see GemmArgs in fd_gemm.cuh). */
export const GEMM_PARAM_NAMES = ['x', 'rows', 'normw', 'w', 'bias', 'res', 'out0', 'out1', 'out2', 'pos', 'rope', 'stats', 'M', 'T', 'R', 'Kmax', 'start'] as const;

/** The module name: every field of the description, spelled out. */
export function gemmName(d: GemmDesc): string {
  let s = `gemm_${d.precision}_k${d.k}_n${d.n}_a${d.a}`;
  if (d.gather) s += '_gather';
  if (d.norm) s += `_rms${identNumber(d.norm.eps)}`;
  if (d.bias) s += '_bias';
  if (d.res) s += '_res';
  if (d.epi.kind === 'seg') {
    s += '_' + d.epi.segs.map((g) => `${g.cache ? 'c' : 'o'}${g.width}${g.rope ? 'r' : ''}${g.out}`).join('_');
    const rope = d.epi.segs.find((g) => g.rope)?.rope;
    if (rope) s += `_hd${rope.headDim}`;
  } else if (d.epi.kind === 'glu') {
    s += `_glu${d.epi.out}`;
  } else {
    s += d.epi.writeLogits ? '_head' : '_headstats';
  }
  return `${s}_${gemmConfigLabel(d.cfg)}`;
}

/** Checks the description against what the epilogue can do; throws naming the rule. */
export function checkGemmDesc(d: GemmDesc): void {
  const fail = (m: string) => { throw new Error(`cuda gemm (n ${d.n}, k ${d.k}): ${m}`); };
  if (d.epi.kind === 'seg') {
    const segs = d.epi.segs;
    if (segs.length < 1 || segs.length > 3) fail('1 to 3 segments');
    if (segs.reduce((s, g) => s + g.width, 0) !== d.n) fail('segment widths must sum to N');
    if (d.res && (segs.length > 1 || segs[0].cache || segs[0].rope)) fail('a residual needs a single dense segment');
    const ropes = segs.filter((g) => g.rope).map((g) => JSON.stringify(g.rope));
    if (new Set(ropes).size > 1) fail('all RoPE segments of a kernel share head dim and theta');
    for (const g of segs) {
      if (g.width % 2 !== 0 && segs.length > 1) fail('segment widths must be even');
      if (g.rope && (g.rope.headDim % 2 !== 0 || g.width % g.rope.headDim !== 0)) fail('RoPE segment width must be whole heads of even size');
    }
  } else if (d.epi.kind === 'glu') {
    if (d.n % 2 !== 0 || d.res) fail('SwiGLU needs an even N (gate/up interleaved) and no residual');
  } else if (d.res) {
    fail('the head epilogue takes no residual');
  }
}

/**
 * The config struct and extern "C" entry point of one GEMM (the body is fd_gemm.cuh); with
 * split-K also those of its reduce-and-epilogue kernel (`reduce`), in a module of its own.
 */
export function gemmShim(d: GemmDesc): { name: string; shim: string; reduce?: { name: string; shim: string } } {
  checkGemmDesc(d);
  const name = gemmName(d);
  const split = d.cfg.splitK ?? 1;
  const main = { name, shim: gemmModuleShim(d, name, `fd::gemm_${d.cfg.core}`) };
  return split > 1 ? { ...main, reduce: { name: `${name}_reduce`, shim: gemmModuleShim(d, `${name}_reduce`, 'fd::gemm_splitk_reduce') } } : main;
}

function gemmModuleShim(d: GemmDesc, name: string, body: string): string {
  const c = d.cfg;
  const wt = d.precision === 'bf16' ? 'fd::bf16' : 'float';
  const lines: string[] = [];
  const segs = d.epi.kind === 'seg' ? d.epi.segs : [{ width: d.n, rope: null, cache: false, out: d.epi.kind === 'glu' ? d.epi.out : 'f32' as DeviceDType }];
  const rope = segs.find((g) => g.rope)?.rope ?? null;
  const epi = d.epi.kind === 'seg' ? 'fd::EPI_SEG' : d.epi.kind === 'glu' ? 'fd::EPI_GLU' : 'fd::EPI_HEAD';
  const vec = d.k % 8 === 0;
  lines.push(`struct ${name}_cfg {`);
  lines.push(`  typedef ${cType(d.a)} AT;`, `  typedef ${wt} WT;`);
  for (let i = 0; i < 3; i++) lines.push(`  typedef ${cType(segs[i]?.out ?? 'f32')} OT${i};`);
  lines.push(`  static constexpr int N = ${d.n}, K = ${d.k}, BM = ${c.bm}, BN = ${c.bn}, BK = ${c.bk}, STAGES = ${c.stages}, THREADS = 128, SPLIT = ${c.splitK ?? 1};`);
  lines.push(`  static constexpr bool NORM = ${!!d.norm}, GATHER = ${d.gather}, BIAS = ${d.bias}, RES = ${d.res}, VEC = ${vec}, WRITE_OUT = ${d.epi.kind !== 'head' || d.epi.writeLogits};`);
  lines.push(`  static constexpr float EPS = ${f32Literal(d.norm?.eps ?? 1)};`);
  lines.push(`  static constexpr int EPI = ${epi}, NSEG = ${segs.length}, HD = ${rope?.headDim ?? 2};`);
  let end = 0;
  for (let i = 0; i < 3; i++) {
    const g = segs[i];
    end += g?.width ?? 0;
    lines.push(`  static constexpr int S${i}_END = ${g ? end : d.n}, S${i}_W = ${g?.width ?? 0};`);
    lines.push(`  static constexpr bool S${i}_ROPE = ${!!g?.rope}, S${i}_CACHE = ${!!g?.cache};`);
  }
  lines.push('};');
  lines.push(`extern "C" __global__ void __launch_bounds__(128) ${name}(const void* x, const fd::i32* rows, const float* normw, const void* w,`);
  lines.push('    const float* bias, const float* res, void* out0, void* out1, void* out2, const fd::i32* pos, const float* rope, void* stats,');
  lines.push('    int M, int T, int R, int Kmax, int start) {');
  lines.push('  fd::GemmArgs a;');
  lines.push('  a.x = x; a.rows = rows; a.normw = normw; a.w = w; a.bias = bias; a.res = res;');
  lines.push('  a.out0 = out0; a.out1 = out1; a.out2 = out2; a.pos = pos; a.rope = rope; a.stats = stats;');
  lines.push('  a.M = M; a.T = T; a.R = R; a.Kmax = Kmax; a.start = start;');
  lines.push(`  ${body}<${name}_cfg>(a);`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
