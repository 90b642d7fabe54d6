import type { Graph, Node } from '../../ir/graph.ts';
import { ELEMENTWISE_ARITY, elementwiseTable, isLeaf, type ComputeOp, type ElementwiseOp, type OpKind } from '../../ir/ops.ts';
import { cpuPrelude } from './prelude.ts';
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

/** Makes the kernel of one node of kind K (its static dims baked into the name and the template arguments). */
type CpuRenderer<K extends OpKind> = (n: Node<K>, g: Graph, tuning: CpuTuning) => CpuKernelSpec;

/** One kernel whose body is a single call; `params` pair C types with parameter names. */
function call(name: string, params: [string, string][], args: ArgSource[], body: string): CpuKernelSpec {
  const types = params.map((p) => p[0]);
  return { name, params: types, args, body: fn(name, types, params.map((p) => p[1]), `  ${body}`) };
}

const numelArg: ArgSource = { kind: 'numel' };
const loop = (expr: string) => `for (int64_t i = 0; i < n; i++) out[i] = ${expr};`;

/** The C++ body of each elementwise op over a, b (null for unary ops), out and n. */
export const CPU_ELEMENTWISE: Record<ElementwiseOp, string> = {
  silu: 'fd::silu_mul_n(a, nullptr, out, n);',
  gelu: loop('0.5f * a[i] * (1.f + std::tanh(0.797884561f * (a[i] + 0.044715f * a[i] * a[i] * a[i])))'),
  add: loop('a[i] + b[i]'),
  mul: loop('a[i] * b[i]'),
  silu_mul: `
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t c = 0; c < n; c += 4096) fd::silu_mul_n(a + c, b + c, out + c, std::min<int64_t>(4096, n - c));`,
};

function elementwise(op: ElementwiseOp): CpuKernelSpec {
  const unary = ELEMENTWISE_ARITY[op] === 1;
  const params: [string, string][] = unary ? [[F, 'a'], [O, 'out'], [N, 'n']] : [[F, 'a'], [F, 'b'], [O, 'out'], [N, 'n']];
  return call(`ew_${op}`, params, unary ? [inp(0), out, numelArg] : [inp(0), inp(1), out, numelArg], CPU_ELEMENTWISE[op].trimStart());
}

/** Per op: its CPU kernel, or 'host' for the ops every host backend runs from runtime/reference. */
export const CPU_KERNELS: { [K in ComputeOp]: CpuRenderer<K> | 'host' } = {
  embedding(n, g) {
    const d = staticDim(n, g, 0, 1);
    return call(`embed_d${d}`, [[F, 'table'], [I, 'ids'], [O, 'out'], [N, 'n']], [inp(0), inp(1), out, { kind: 'numelIn', index: 1 }], `fd::embed<${d}>(table, ids, out, n);`);
  },
  matmul(n, g, tuning) {
    const a = n.attrs;
    const nn = staticDim(n, g, 1, 0), k = staticDim(n, g, 1, 1);
    const packed = packedWeights(g).has(n.inputs[1]);
    const cfg = tuning[gemmKey(nn, k)] ?? DEFAULT_GEMM;
    const tuned = packed && !isDefaultGemm(cfg) ? `_kb${cfg.kb}_mr${cfg.mr}` : '';
    const name = `matmul${packed ? '_p' : ''}_n${nn}_k${k}${a.hasBias ? '_bias' : ''}${a.hasResidual ? '_res' : ''}${tuned}`;
    const params: [string, string][] = [[F, 'x'], [F, 'w'], ...(a.hasBias ? [[F, 'bias'] as [string, string]] : []), ...(a.hasResidual ? [[F, 'res'] as [string, string]] : []), [O, 'out'], [N, 'm']];
    const args = [inp(0), inp(1), ...(a.hasBias ? [inp(2)] : []), ...(a.hasResidual ? [inp(2 + Number(a.hasBias))] : []), out, rows(0)];
    return call(name, params, args,
      `fd::${packed ? 'gemm_packed' : 'gemm'}<${nn}, ${k}, ${a.hasBias}, ${a.hasResidual}${tuned ? `, ${cfg.kb}, ${cfg.mr}` : ''}>(x, w, ${a.hasBias ? 'bias' : 'nullptr'}, ${a.hasResidual ? 'res' : 'nullptr'}, out, m);`);
  },
  rmsnorm(n, g) {
    const d = staticDim(n, g, 1, 0), eps = n.attrs.eps;
    return call(`rmsnorm_d${d}_eps${eps}`.replace(/[.-]/g, '_'), [[F, 'x'], [F, 'w'], [O, 'out'], [N, 'm']], [inp(0), inp(1), out, rows(0)],
      `fd::rmsnorm_rows<${d}>(x, w, out, m, ${flt(eps)});`);
  },
  rope({ attrs: a }) {
    return call(`rope_h${a.heads}_hd${a.headDim}_theta${a.theta}`.replace(/[.-]/g, '_'), [[F, 'x'], [I, 'pos'], [O, 'out'], [N, 'm']], [inp(0), inp(1), out, rows(0)],
      `fd::rope_rows<${a.heads}, ${a.headDim}>(x, pos, out, m, ${a.theta.toExponential()});`);
  },
  cache_write(n, g) {
    const w = staticDim(n, g, 0, 2);
    return call(`cache_write_w${w}`, [[O, 'cache'], [F, 'win'], [N, 'b'], [N, 'kmax'], [N, 't'], [N, 'start']],
      [out, inp(1), dim(0, 0), dim(0, 1), dim(1, 1), { kind: 'scalar', index: 2 }], `fd::cache_write<${w}>(cache, win, b, kmax, t, start);`);
  },
  repeat_kv({ attrs: a }) {
    return call(`repeat_kv_h${a.kvHeads}_hd${a.headDim}_r${a.repeats}`, [[F, 'x'], [O, 'out'], [N, 'm']], [inp(0), out, rows(0)],
      `fd::repeat_kv<${a.kvHeads}, ${a.headDim}, ${a.repeats}>(x, out, m);`);
  },
  attention({ attrs: a }) {
    return call(`attention_h${a.heads}_kv${a.kvHeads}_hd${a.headDim}`,
      [[F, 'q'], [F, 'k'], [F, 'v'], [U8, 'mask'], [O, 'out'], [N, 'B'], [N, 'T'], [N, 'K'], [N, 'kmax']],
      [inp(0), inp(1), inp(2), inp(3), out, dim(0, 0), dim(0, 1), dim(3, 1), dim(1, 1)],
      `fd::attention<${a.heads}, ${a.kvHeads}, ${a.headDim}>(q, k, v, mask, out, B, T, K, kmax, ${flt(a.scale)});`);
  },
  ...elementwiseTable((op) => () => elementwise(op)),
  gather_rows(n, g) {
    const d = staticDim(n, g, 0, 2);
    return call(`gather_rows_d${d}`, [[F, 'x'], [I, 'rows'], [O, 'out'], [N, 'B'], [N, 'T'], [N, 'R']],
      [inp(0), inp(1), out, dim(0, 0), dim(0, 1), dim(1, 1)], `fd::gather_rows<${d}>(x, rows, out, B, T, R);`);
  },
  logit_shift(n, g) {
    const v = staticDim(n, g, 0, 2);
    return call(`logit_shift_v${v}`, [[F, 'x'], [O, 'out'], [N, 'B'], [N, 'T']], [inp(0), out, dim(0, 0), dim(0, 1)], `fd::logit_shift<${v}>(x, out, B, T);`);
  },
  softmax: 'host', argmax: 'host', confidence: 'host', select_topk: 'host', select_threshold: 'host', select_factor: 'host', mask_fill: 'host', scatter_tokens: 'host',
};

/** The C++ kernel of one node, or null for ops that run on the host (selection, leaves). */
export function cpuKernelFor(n: Node, g: Graph, tuning: CpuTuning = {}): CpuKernelSpec | null {
  if (isLeaf(n.op)) return null;
  const r = CPU_KERNELS[n.op as ComputeOp];
  return r === 'host' ? null : (r as CpuRenderer<OpKind>)(n, g, tuning);
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

/** Columns of one packed GEMM panel: PANEL in templates/cpu/fd_cpu_gemm.h. */
const GEMM_PANEL = 16;

/** Floats a [n, k] weight takes packed into GEMM panels (pack_panels zero-pads the last panel's columns). */
export function packedLength(n: number, k: number): number {
  return Math.ceil(n / GEMM_PANEL) * GEMM_PANEL * k;
}

/** The packing kernel of a [N, K] weight and the packed length (packedLength). */
export function packKernelFor(shape: readonly number[]): { name: string; body: string; length: number } {
  const [nn, k] = shape as number[];
  const name = `pack_n${nn}_k${k}`;
  return { name, length: packedLength(nn, k), body: `extern "C" void ${name}(const float* w, float* wp) { fd::pack_panels<${nn}, ${k}>(w, wp); }\n` };
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
  const source = `// generated by fastdllm codegen/cpu\n${cpuPrelude()}\n${[...bodies.keys()].sort().map((k) => bodies.get(k)).join('\n')}`;
  return { source, kernels, packs };
}
