import type { Graph, Node } from '../../ir/graph.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import { CPU_PRELUDE } from './prelude.ts';
import { DEFAULT_GEMM, gemmKey, isDefaultGemm, type CpuTuning } from './tuning.ts';

/**
 * Where a kernel argument comes from at run time: an operand's buffer, the output buffer,
 * a resolved dim of an operand, the product of an operand's leading dims, or the value of a
 * scalar i32 operand.
 */
export type ArgSource =
  | { kind: 'in'; index: number }
  | { kind: 'out' }
  | { kind: 'dim'; index: number; axis: number }
  | { kind: 'rows'; index: number }
  | { kind: 'scalar'; index: number }
  | { kind: 'numel' }
  | { kind: 'numelIn'; index: number };

export interface CpuKernelSpec {
  /** Symbol in the module; it spells out every baked constant (FlashInfer style). */
  name: string;
  /** C parameter types, in order (koffi prototype). */
  params: string[];
  args: ArgSource[];
  body: string;
}

const F = 'const float *', I = 'const int32_t *', U8 = 'const uint8_t *', O = 'float *', N = 'int64_t';
const inp = (index: number): ArgSource => ({ kind: 'in', index });
const out: ArgSource = { kind: 'out' };
const rows = (index: number): ArgSource => ({ kind: 'rows', index });
const dim = (index: number, axis: number): ArgSource => ({ kind: 'dim', index, axis });
const flt = (v: number) => `${Math.fround(v).toPrecision(9)}f`;
const staticDim = (n: Node, g: Graph, input: number, axis: number): number => {
  const s = g.node(n.inputs[input]).shape;
  const d = s[axis < 0 ? s.length + axis : axis];
  if (typeof d !== 'number') throw new Error(`cpu codegen: ${n.op} needs a static dim, got '${d}'`);
  return d;
};

function fn(name: string, params: string[], pnames: string[], body: string): string {
  return `extern "C" void ${name}(${params.map((p, i) => `${p}${p.endsWith('*') ? '' : ' '}${pnames[i]}`).join(', ')}) {\n${body}\n}\n`;
}

/** The C++ kernel of one node, or null for ops that run on the host (selection, leaves). */
export function cpuKernelFor(n: Node, g: Graph, tuning: CpuTuning = {}): CpuKernelSpec | null {
  switch (n.op) {
    case 'embedding': {
      const d = staticDim(n, g, 0, 1);
      const name = `embed_d${d}`;
      return { name, params: [F, I, O, N], args: [inp(0), inp(1), out, { kind: 'numelIn', index: 1 }], body: fn(name, [F, I, O, N], ['table', 'ids', 'out', 'n'],
        `  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * ${d}, table + (int64_t)ids[i] * ${d}, ${d} * sizeof(float));`) };
    }
    case 'matmul': {
      const a = n.attrs as OpAttrs['matmul'];
      const nn = staticDim(n, g, 1, 0), k = staticDim(n, g, 1, 1);
      const packed = packedWeights(g).has(n.inputs[1]);
      const cfg = tuning[gemmKey(nn, k)] ?? DEFAULT_GEMM;
      const tuned = packed && !isDefaultGemm(cfg) ? `_kb${cfg.kb}_mr${cfg.mr}` : '';
      const name = `matmul${packed ? '_p' : ''}_n${nn}_k${k}${a.hasBias ? '_bias' : ''}${a.hasResidual ? '_res' : ''}${tuned}`;
      const params = [F, F, ...(a.hasBias ? [F] : []), ...(a.hasResidual ? [F] : []), O, N];
      const pn = ['x', 'w', ...(a.hasBias ? ['bias'] : []), ...(a.hasResidual ? ['res'] : []), 'out', 'm'];
      const args = [inp(0), inp(1), ...(a.hasBias ? [inp(2)] : []), ...(a.hasResidual ? [inp(2 + Number(a.hasBias))] : []), out, rows(0)];
      return { name, params, args, body: fn(name, params, pn,
        `  fd::${packed ? 'gemm_packed' : 'gemm'}<${nn}, ${k}, ${a.hasBias}, ${a.hasResidual}${tuned ? `, ${cfg.kb}, ${cfg.mr}` : ''}>(x, w, ${a.hasBias ? 'bias' : 'nullptr'}, ${a.hasResidual ? 'res' : 'nullptr'}, out, m);`) };
    }
    case 'rmsnorm': {
      const d = staticDim(n, g, 1, 0), eps = (n.attrs as OpAttrs['rmsnorm']).eps;
      const name = `rmsnorm_d${d}_eps${eps}`.replace(/[.-]/g, '_');
      return { name, params: [F, F, O, N], args: [inp(0), inp(1), out, rows(0)], body: fn(name, [F, F, O, N], ['x', 'w', 'out', 'm'], `
  for (int64_t i = 0; i < m; i++) {
    const float* r = x + i * ${d};
    double ss = 0;
    for (int j = 0; j < ${d}; j++) ss += (double)r[j] * r[j];
    const float inv = 1.0f / std::sqrt((float)(ss / ${d}) + ${flt(eps)});
    for (int j = 0; j < ${d}; j++) out[i * ${d} + j] = (r[j] * inv) * w[j];
  }`) };
    }
    case 'rope': {
      const a = n.attrs as OpAttrs['rope'];
      const half = a.headDim / 2, width = a.heads * a.headDim;
      const name = `rope_h${a.heads}_hd${a.headDim}_theta${a.theta}`.replace(/[.-]/g, '_');
      return { name, params: [F, I, O, N], args: [inp(0), inp(1), out, rows(0)], body: fn(name, [F, I, O, N], ['x', 'pos', 'out', 'm'], `
  float inv[${half}];
  for (int i = 0; i < ${half}; i++) inv[i] = 1.0f / (float)std::pow(${a.theta.toExponential()}, (double)((float)(2 * i) / ${a.headDim}.0f));
  for (int64_t t = 0; t < m; t++) {
    const float p = (float)pos[t];
    for (int i = 0; i < ${half}; i++) {
      const float ang = p * inv[i];
      const float c = (float)std::cos((double)ang), s = (float)std::sin((double)ang);
      for (int h = 0; h < ${a.heads}; h++) {
        const int64_t o = t * ${width} + h * ${a.headDim};
        const float u = x[o + i], v = x[o + i + ${half}];
        out[o + i] = u * c - v * s;
        out[o + i + ${half}] = v * c + u * s;
      }
    }
  }`) };
    }
    case 'cache_write': {
      const w = staticDim(n, g, 0, 2);
      const name = `cache_write_w${w}`;
      const params = [O, F, N, N, N, N];
      return { name, params, args: [out, inp(1), dim(0, 0), dim(0, 1), dim(1, 1), { kind: 'scalar', index: 2 }], body: fn(name, params, ['cache', 'win', 'b', 'kmax', 't', 'start'],
        `  for (int64_t i = 0; i < b; i++) std::memcpy(cache + (i * kmax + start) * ${w}, win + i * t * ${w}, t * ${w} * sizeof(float));`) };
    }
    case 'repeat_kv': {
      const a = n.attrs as OpAttrs['repeat_kv'];
      const name = `repeat_kv_h${a.kvHeads}_hd${a.headDim}_r${a.repeats}`;
      return { name, params: [F, O, N], args: [inp(0), out, rows(0)], body: fn(name, [F, O, N], ['x', 'out', 'm'], `
  for (int64_t r = 0; r < m; r++)
    for (int h = 0; h < ${a.kvHeads * a.repeats}; h++)
      std::memcpy(out + (r * ${a.kvHeads * a.repeats} + h) * ${a.headDim}, x + (r * ${a.kvHeads} + h / ${a.repeats}) * ${a.headDim}, ${a.headDim} * sizeof(float));`) };
    }
    case 'attention': {
      const a = n.attrs as OpAttrs['attention'];
      const r = a.heads / a.kvHeads, hd = a.headDim;
      const name = `attention_h${a.heads}_kv${a.kvHeads}_hd${hd}`;
      const params = [F, F, F, U8, O, N, N, N, N];
      // Per (batch, head): all scores as a tiled GEMM, masked softmax per query row, then the
      // value rows accumulated in key order.
      return { name, params, args: [inp(0), inp(1), inp(2), inp(3), out, dim(0, 0), dim(0, 1), dim(3, 1), dim(1, 1)],
        body: fn(name, params, ['q', 'k', 'v', 'mask', 'out', 'B', 'T', 'K', 'kmax'], `
#pragma omp parallel if (B * T * K * ${a.heads} > 65536)
  {
    float* s = new float[T * K];
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++)
      for (int h = 0; h < ${a.heads}; h++) {
        const int kh = h / ${r};
        const float* qb = q + b * T * ${a.heads * hd} + h * ${hd};
        const float* kb = k + b * kmax * ${a.kvHeads * hd} + kh * ${hd};
        const float* vb = v + b * kmax * ${a.kvHeads * hd} + kh * ${hd};
        fd::scores<${hd}>(qb, ${a.heads * hd}, kb, ${a.kvHeads * hd}, s, T, K, ${flt(a.scale)});
        for (int64_t i = 0; i < T; i++) {
          float* si = s + i * K;
          float mx = -INFINITY;
          for (int64_t j = 0; j < K; j++) {
            if (!mask[b * K + j]) si[j] = -INFINITY;
            else mx = std::max(mx, si[j]);
          }
          const float sum = mx == -INFINITY ? 0.f : fd::exp_shift_sum(si, K, mx);
          float acc[${hd}];
          for (int e = 0; e < ${hd}; e++) acc[e] = 0.f;
          for (int64_t j = 0; j < K; j++) {
            const float p = si[j];
            if (p == 0.f) continue;
            const float* vr = vb + j * ${a.kvHeads * hd};
            for (int e = 0; e < ${hd}; e++) acc[e] += p * vr[e];
          }
          const float inv = sum > 0.f ? 1.f / sum : 0.f;
          float* o = out + (b * T + i) * ${a.heads * hd} + h * ${hd};
          for (int e = 0; e < ${hd}; e++) o[e] = acc[e] * inv;
        }
      }
    delete[] s;
  }`) };
    }
    case 'silu':
    case 'add':
    case 'mul':
    case 'silu_mul': {
      const unary = n.op === 'silu';
      const params = unary ? [F, O, N] : [F, F, O, N];
      const name = `ew_${n.op}`;
      const body = n.op === 'silu' ? '  fd::silu_mul_n(a, nullptr, out, n);'
        : n.op === 'silu_mul' ? `
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < n; c += 4096) fd::silu_mul_n(a + c, b + c, out + c, std::min<int64_t>(4096, n - c));`
        : `  for (int64_t i = 0; i < n; i++) out[i] = a[i] ${n.op === 'add' ? '+' : '*'} b[i];`;
      return { name, params, args: unary ? [inp(0), out, { kind: 'numel' }] : [inp(0), inp(1), out, { kind: 'numel' }],
        body: fn(name, params, unary ? ['a', 'out', 'n'] : ['a', 'b', 'out', 'n'], body) };
    }
    case 'gather_rows': {
      const d = staticDim(n, g, 0, 2);
      const name = `gather_rows_d${d}`;
      const params = [F, I, O, N, N, N];
      return { name, params, args: [inp(0), inp(1), out, dim(0, 0), dim(0, 1), dim(1, 1)], body: fn(name, params, ['x', 'rows', 'out', 'B', 'T', 'R'], `
  for (int64_t b = 0; b < B; b++)
    for (int64_t r = 0; r < R; r++) std::memcpy(out + (b * R + r) * ${d}, x + (b * T + rows[b * R + r]) * ${d}, ${d} * sizeof(float));`) };
    }
    case 'logit_shift': {
      const v = staticDim(n, g, 0, 2);
      const name = `logit_shift_v${v}`;
      const params = [F, O, N, N];
      return { name, params, args: [inp(0), out, dim(0, 0), dim(0, 1)], body: fn(name, params, ['x', 'out', 'B', 'T'], `
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) std::memcpy(out + (b * T + t) * ${v}, x + (b * T + (t > 0 ? t - 1 : 0)) * ${v}, ${v} * sizeof(float));`) };
    }
    default:
      return null;
  }
}

const packCache = new WeakMap<Graph, Set<number>>();

/**
 * Weights stored as packed GEMM panels: params read only as the weight operand of matmuls.
 * (A tied embedding, read by a gather too, keeps its layout; its matmul uses the plain kernel.)
 */
export function packedWeights(g: Graph): Set<number> {
  let set = packCache.get(g);
  if (set) return set;
  set = new Set<number>();
  const users = g.users();
  for (const p of g.ofKind('param')) {
    if (p.shape.length === 2 && users[p.id].length > 0 && users[p.id].every((u) => g.node(u).op === 'matmul' && g.node(u).inputs[1] === p.id && g.node(u).inputs[0] !== p.id)) set.add(p.id);
  }
  packCache.set(g, set);
  return set;
}

/** The packing kernel of a [N, K] weight and the packed length (panels of 16 columns). */
export function packKernelFor(shape: readonly number[]): { name: string; body: string; length: number } {
  const [nn, k] = shape as number[];
  const name = `pack_n${nn}_k${k}`;
  return { name, length: Math.ceil(nn / 16) * 16 * k, body: `extern "C" void ${name}(const float* w, float* wp) { fd::pack_panels<${nn}, ${k}>(w, wp); }\n` };
}

/** One C++ translation unit holding every distinct kernel of the graph, in a stable order. */
export function renderCpuModule(g: Graph, tuning: CpuTuning = {}): { source: string; kernels: Map<number, CpuKernelSpec>; packs: Map<number, { name: string; length: number }> } {
  const kernels = new Map<number, CpuKernelSpec>();
  const packs = new Map<number, { name: string; length: number }>();
  const bodies = new Map<string, string>();
  for (const n of g.nodes) {
    const k = cpuKernelFor(n, g, tuning);
    if (!k) continue;
    kernels.set(n.id, k);
    bodies.set(k.name, k.body);
  }
  for (const id of packedWeights(g)) {
    const pk = packKernelFor(g.node(id).shape as number[]);
    packs.set(id, pk);
    bodies.set(pk.name, pk.body);
  }
  const source = `// generated by fastdllm codegen/cpu\n${CPU_PRELUDE}\n${[...bodies.keys()].sort().map((k) => bodies.get(k)).join('\n')}`;
  return { source, kernels, packs };
}
