import { ELEMENTWISE_ARITY, type ElementwiseOp } from '../../ir/ops.ts';
import { cType, f32Literal, identNumber } from './text.ts';
import type { DeviceDType } from './types.ts';
import type { AttentionConfig } from './tuning.ts';

/**
 * Shims of the non-GEMM kernels: a config struct binding the constants and the extern "C"
 * entry point; the bodies live in templates/fd_attention.cuh and templates/fd_misc.cuh.
 */
export interface Shim {
  name: string;
  shim: string;
}

const wrap = (name: string, cfg: string[], sig: string, call: string, threads: number): Shim => ({
  name,
  shim: `struct ${name}_cfg {\n${cfg.map((l) => `  ${l}`).join('\n')}\n};\nextern "C" __global__ void __launch_bounds__(${threads}) ${name}(${sig}) {\n  ${call.replace('CFG', `${name}_cfg`)};\n}\n`,
});

/** Attention over the cache: q [B, T, H*hd], k/v [B, Kmax, Hk*hd], mask [B, K]. */
export function attentionShim(d: { heads: number; kvHeads: number; headDim: number; scale: number; q: DeviceDType; cache: DeviceDType; out: DeviceDType; cfg: AttentionConfig }): Shim {
  const std = Math.fround(d.scale) === Math.fround(1 / Math.sqrt(d.headDim));
  const types = `_q${d.q}_c${d.cache}_o${d.out}`;
  const name = `attn_h${d.heads}_kv${d.kvHeads}_hd${d.headDim}${types}${std ? '' : `_scale${identNumber(Math.fround(d.scale))}`}_bkv${d.cfg.bkv}_rpw${d.cfg.rpw}`;
  return wrap(name, [
    `typedef ${cType(d.q)} QT;`, `typedef ${cType(d.cache)} CT;`, `typedef ${cType(d.out)} OT;`,
    `static constexpr int HEADS = ${d.heads}, KVH = ${d.kvHeads}, HD = ${d.headDim}, BKV = ${d.cfg.bkv}, RPW = ${d.cfg.rpw}, THREADS = ${d.cfg.threads};`,
    `static constexpr float SCALE = ${f32Literal(d.scale)};`,
  ], 'const void* q, const void* k, const void* v, const fd::u8* mask, void* out, int B, int T, int K, int Kmax',
  'fd::attention<CFG>(q, k, v, mask, out, B, T, K, Kmax)', d.cfg.threads);
}

/** Embedding gather into the f32 residual stream. */
export function embedShim(d: { width: number; table: DeviceDType }): Shim {
  return wrap(`embed_${d.table}_d${d.width}`, [`typedef ${cType(d.table)} TT;`, `static constexpr int D = ${d.width};`],
    'const void* table, const fd::i32* ids, float* out, int M', 'fd::embed<CFG>(table, ids, out, M)', 128);
}

/** Combines the LM head's per-tile partials into x0 and the f64 confidence of each row. */
export function headSelectShim(): Shim {
  return {
    name: 'head_select',
    shim: 'extern "C" __global__ void __launch_bounds__(128) head_select(const void* stats, int tiles, int M, fd::i32* x0, double* conf) {\n'
      + '  fd::head_select((const fd::HeadStat*)stats, tiles, M, x0, conf);\n}\n',
  };
}

export function rmsnormShim(d: { width: number; eps: number; in: DeviceDType; out: DeviceDType }): Shim {
  return wrap(`rmsnorm_d${d.width}_eps${identNumber(d.eps)}_${d.in}_${d.out}`,
    [`typedef ${cType(d.in)} IT;`, `typedef ${cType(d.out)} OT;`, `static constexpr int D = ${d.width};`, `static constexpr float EPS = ${f32Literal(d.eps)};`],
    'const void* x, const float* w, void* out, int M', 'fd::rmsnorm_rows<CFG>(x, w, out, M)', 256);
}

/**
 * The CUDA expression of each elementwise op over f32 operands a and b (b unused by unary ops).
 * It becomes the config's op(): fd::elementwise in fd_misc.cuh is the same loop for every op.
 */
export const CUDA_ELEMENTWISE: Record<ElementwiseOp, string> = {
  add: 'a + b',
  mul: 'a * b',
  silu: 'fd::silu(a)',
  silu_mul: 'fd::silu(a) * b',
  gelu: '0.5f * a * (1.f + tanhf(0.797884561f * (a + 0.044715f * a * a * a)))',
};

/** An elementwise kernel: the config binds the storage types and the op's expression (CUDA_ELEMENTWISE). */
export function elementwiseShim(d: { op: ElementwiseOp; in: DeviceDType; out: DeviceDType }): Shim {
  return wrap(`ew_${d.op}_${d.in}_${d.out}`, [`typedef ${cType(d.in)} IT;`, `typedef ${cType(d.out)} OT;`, `static constexpr bool BINARY = ${ELEMENTWISE_ARITY[d.op] === 2};`,
    `static __device__ __forceinline__ float op(float a, float b) { return ${CUDA_ELEMENTWISE[d.op]}; }`],
  'const void* a, const void* b, void* out, long long n', 'fd::elementwise<CFG>(a, b, out, n)', 256);
}

export const COPY_MODES = { gather: 0, shift: 1, cache_write: 2 } as const;

export function copyRowsShim(d: { mode: keyof typeof COPY_MODES; width: number; in: DeviceDType; out: DeviceDType }): Shim {
  return wrap(`copy_${d.mode}_d${d.width}_${d.in}_${d.out}`,
    [`typedef ${cType(d.in)} IT;`, `typedef ${cType(d.out)} OT;`, `static constexpr int D = ${d.width}, MODE = ${COPY_MODES[d.mode]};`],
    'const void* x, const fd::i32* rows, void* out, int T, int R, int Kmax, int start', 'fd::copy_rows<CFG>(x, rows, out, T, R, Kmax, start)', 128);
}

export function repeatKvShim(d: { kvHeads: number; headDim: number; repeats: number; in: DeviceDType; out: DeviceDType }): Shim {
  return wrap(`repeat_kv_h${d.kvHeads}_hd${d.headDim}_r${d.repeats}_${d.in}_${d.out}`,
    [`typedef ${cType(d.in)} IT;`, `typedef ${cType(d.out)} OT;`, `static constexpr int KVH = ${d.kvHeads}, HD = ${d.headDim}, REP = ${d.repeats};`],
    'const void* x, void* out, int M', 'fd::repeat_kv<CFG>(x, out, M)', 128);
}

/** RoPE alone (unfused); theta lives in the cos / sin table the executor builds, not in the code. */
export function ropeShim(d: { heads: number; headDim: number; in: DeviceDType; out: DeviceDType }): Shim {
  return wrap(`rope_h${d.heads}_hd${d.headDim}_${d.in}_${d.out}`, [`typedef ${cType(d.in)} IT;`, `typedef ${cType(d.out)} OT;`, `static constexpr int HEADS = ${d.heads}, HD = ${d.headDim};`],
    'const void* x, const fd::i32* pos, const float* table, void* out, int M', 'fd::rope_rows<CFG>(x, pos, table, out, M)', 128);
}
