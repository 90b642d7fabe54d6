import type { Graph, Node } from '../../ir/graph.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import { groupGraph, type Group } from './groups.ts';
import { renderGemmGroup } from './render-gemm.ts';
import { renderNodeKernel } from './render-node.ts';
import { PlanBuilder } from './plan-builder.ts';
import { planStepKernels } from './step-kernels.ts';
import type { CudaKernel, CudaPlan, CudaPrecision, DeviceDType, HeadOutputs } from './types.ts';
import type { CudaGemmConfig, GemmShape } from './tuning.ts';

export interface PlanOptions {
  precision: CudaPrecision;
  /** What the LM head returns (default: full logits, what the CPU decode path reads). */
  headOutputs?: HeadOutputs;
  /** A tuned GEMM config for a shape, `head` for the LM head's (default, or when not valid there: defaultGemmConfig). */
  gemmConfig?: (shape: GemmShape, head: boolean) => CudaGemmConfig | undefined;
  /**
   * SMs of the GPU the plan is for: untuned GEMMs with fewer column tiles split K to fill them
   * (tuning.ts defaultGemmConfig). Default DEFAULT_SMS (132, H100 / H200).
   */
  sms?: number;
}

/**
 * Plans the CUDA program of a (fused) forward graph: groups it into kernels (groups.ts),
 * decides how every value is stored (bf16 mode keeps the residual stream, the logits and
 * anything a residual or a host op reads in f32; Q, the KV cache, the attention output and
 * the SwiGLU product in bf16), renders each kernel's shim, and orders the kernels by their
 * dependencies. Pure and deterministic: the same graph gives byte-identical sources.
 */
export function planCuda(g: Graph, opts: PlanOptions): CudaPlan {
  const headOutputs = opts.headOutputs ?? 'logits';
  const groups = groupGraph(g, headOutputs);
  const storage = assignStorage(g, groups, opts.precision);
  const b = new PlanBuilder(g, opts.precision, storage, opts.gemmConfig, opts.sms);
  const kernels: CudaKernel[] = [];
  let headRowsOf: number | undefined;
  for (const grp of groups) {
    if (grp.kind === 'gemm') {
      const ks = renderGemmGroup(b, grp, headOutputs);
      kernels.push(...ks);
      if (grp.epi.kind === 'head') headRowsOf = grp.matmuls[0];
    } else {
      kernels.push(renderNodeKernel(b, grp.node));
    }
  }
  return {
    graph: g,
    precision: opts.precision,
    headOutputs,
    kernels: orderKernels(kernels, aliasesOf(g)),
    packs: b.packList(),
    scratch: b.scratchList(),
    storage,
    aliases: aliasesOf(g),
    headRowsOf,
    stepKernels: headRowsOf !== undefined ? planStepKernels(g) : [],
  };
}

/** cache_write nodes update their cache in place: map each to the value it writes into. */
export function aliasesOf(g: Graph): Map<number, number> {
  const a = new Map<number, number>();
  for (const n of g.nodes) if (n.op === 'cache_write') a.set(n.id, a.get(n.inputs[0]) ?? n.inputs[0]);
  return a;
}

const hostDType = (n: Node): DeviceDType => (n.dtype === 'bool' ? 'u8' : n.dtype === 'i32' ? 'i32' : n.dtype === 'f64' ? 'f64' : 'f32');

/** Device storage of every materialised value. */
function assignStorage(g: Graph, groups: Group[], precision: CudaPrecision): Map<number, DeviceDType> {
  const users = g.users();
  const isOut = new Set(Object.values(g.outputs));
  const s = new Map<number, DeviceDType>();
  const bf16 = precision === 'bf16';
  // bf16 is safe for a value only where every reader converts on load: a GEMM's A operand
  // (not its residual or bias) and attention's q/k/v. Residuals, norms' weights and host ops read f32.
  const bf16Readers = (id: number) => users[id].every((u) => {
    const n = g.node(u);
    if (n.op === 'matmul') return n.inputs[0] === id && !n.inputs.slice(1).includes(id);
    if (n.op === 'attention') return n.inputs[3] !== id;
    if (n.op === 'cache_write') return n.inputs[1] === id && !!s.get(n.inputs[0]) && s.get(n.inputs[0]) === 'bf16';
    return false;
  });
  const activation = (id: number): DeviceDType => (bf16 && !isOut.has(id) && bf16Readers(id) ? 'bf16' : 'f32');
  for (const n of g.nodes) {
    if (n.op === 'input') s.set(n.id, hostDType(n));
    if (n.op === 'state') s.set(n.id, bf16 && n.dtype === 'f32' ? 'bf16' : hostDType(n));
  }
  for (const n of g.nodes) if (n.op === 'cache_write') s.set(n.id, s.get(n.inputs[0])!);
  for (const grp of groups) {
    if (grp.kind === 'gemm') {
      if (grp.epi.kind === 'seg') {
        for (const seg of grp.epi.segs) {
          if (seg.cacheWrite !== null) continue;
          const res = (g.node(seg.matmul).attrs as OpAttrs['matmul']).hasResidual;
          s.set(seg.value, res ? 'f32' : activation(seg.value));
        }
      } else if (grp.epi.kind === 'glu') {
        s.set(grp.epi.siluMul, activation(grp.epi.siluMul));
      } else {
        s.set(grp.matmuls[0], 'f32');
      }
    } else {
      const n = g.node(grp.node);
      if (n.op === 'cache_write') continue;
      s.set(n.id, n.op === 'attention' ? activation(n.id) : hostDType(n));
    }
  }
  return s;
}

/**
 * Kernels in dependency order (Kahn), ties broken by the first IR node each covers, so the
 * order is the graph's wherever dependencies allow.
 */
function orderKernels(kernels: CudaKernel[], aliases: Map<number, number>): CudaKernel[] {
  const resolve = (id: number) => aliases.get(id) ?? id;
  const writer = new Map<number, number[]>();
  kernels.forEach((k, i) => k.writes.forEach((w) => { writer.set(w, [...(writer.get(w) ?? []), i]); }));
  const deps = kernels.map((k, i) => {
    const d = new Set<number>();
    for (const r of k.reads) for (const w of writer.get(r) ?? []) if (w !== i) d.add(w);
    // Writers into the same state (the cache) keep graph order relative to each other.
    for (const w of k.writes) {
      const target = resolve(w);
      kernels.forEach((o, j) => { if (j !== i && o.writes.some((x) => resolve(x) === target && x < w)) d.add(j); });
    }
    return d;
  });
  const key = (i: number) => Math.min(...kernels[i].nodes);
  const done = new Set<number>();
  const out: CudaKernel[] = [];
  while (out.length < kernels.length) {
    let best = -1;
    for (let i = 0; i < kernels.length; i++) {
      if (done.has(i) || [...deps[i]].some((d) => !done.has(d))) continue;
      if (best < 0 || key(i) < key(best)) best = i;
    }
    if (best < 0) throw new Error('cuda plan: kernels depend on each other in a cycle');
    done.add(best);
    out.push(kernels[best]);
  }
  return out;
}
