import type { Graph, Node } from '../../ir/graph.ts';
import { isLeaf, type OpAttrs } from '../../ir/ops.ts';
import { printGraph } from '../../ir/printer.ts';
import type { CpuModule } from './module.ts';

/** One row of `fastdllm inspect --device cpu`: a distinct kernel of the forward. */
export interface CpuKernelReport {
  name: string;
  /** The IR ops the kernel computes in one pass (e.g. matmul + add for a residual epilogue). */
  fuses: string[];
  /** Launches per forward (one per node it runs, e.g. one per layer). */
  launches: number;
  /** The fused graph's nodes it runs. */
  nodes: number[];
  /** 'cpp': a generated C++ kernel; 'host': a TypeScript kernel (no C++ for this op). */
  kind: 'cpp' | 'host';
}

/**
 * What one fused node computes, as the unfused ops it replaced, read from its attributes (a
 * matmul with bias and residual: matmul + bias + add; see ir/passes/fuse.ts). A CPU kernel runs
 * one node; the CUDA planner's kernels span nodes and name theirs by codegen/cuda distinctOps.
 */
export function unfusedOps(n: Node): string[] {
  switch (n.op) {
    case 'matmul': {
      const a = n.attrs as OpAttrs['matmul'];
      return ['matmul', ...(a.hasBias ? ['bias'] : []), ...(a.hasResidual ? ['add'] : [])];
    }
    case 'silu_mul': return ['silu', 'mul'];
    case 'attention': {
      const a = n.attrs as OpAttrs['attention'];
      return a.kvHeads < a.heads ? ['repeat_kv', 'attention'] : ['attention'];
    }
    default: return [n.op];
  }
}

/** The forward's kernels in first-launch order, each once; nodes without C++ run on the host. */
export function cpuKernelReports(graph: Graph, mod: CpuModule): CpuKernelReport[] {
  const rows = new Map<string, CpuKernelReport>();
  for (const n of graph.nodes) {
    if (isLeaf(n.op)) continue;
    const spec = mod.kernels.get(n.id);
    const name = spec ? spec.name : `host_${n.op}`;
    const have = rows.get(name);
    if (have) {
      have.launches++;
      have.nodes.push(n.id);
      continue;
    }
    rows.set(name, { name, fuses: unfusedOps(n), launches: 1, nodes: [n.id], kind: spec ? 'cpp' : 'host' });
  }
  return [...rows.values()];
}

/** The packing kernels (they run once at load, re-laying GEMM weights into panels). */
export function cpuPackKernels(mod: CpuModule): { name: string; launches: number }[] {
  const count = new Map<string, number>();
  for (const p of mod.packs.values()) count.set(p.name, (count.get(p.name) ?? 0) + 1);
  return [...count].map(([name, launches]) => ({ name, launches }));
}

/** The fused-IR lines (printGraph's) of the nodes a kernel runs. */
export function cpuKernelIr(graph: Graph, row: CpuKernelReport): string {
  const want = new Set(row.nodes);
  const lines = printGraph(graph).split('\n').filter((l) => {
    const m = /^%(\d+) = /.exec(l);
    return m !== null && want.has(Number(m[1]));
  });
  return lines.join('\n') + '\n';
}

/** The C++ of one kernel of the module (its extern "C" function), or undefined. */
export function cpuKernelSource(mod: CpuModule, name: string): string | undefined {
  for (const k of mod.kernels.values()) if (k.name === name) return k.body;
  return undefined;
}

/**
 * One function's assembly out of a module's (`g++ -S`): the symbol itself and what the compiler
 * outlined from it (OpenMP bodies `name._omp_fn.N`, `.cold` parts), each from `.type` to `.size`.
 */
export function functionAssembly(asm: string, name: string): string {
  const out: string[] = [];
  let cur: string | null = null;
  const ours = (s: string) => s === name || s.startsWith(`${name}.`);
  for (const line of asm.split('\n')) {
    const t = /^\s*\.type\s+([^,\s]+),\s*@function/.exec(line);
    if (t && ours(t[1])) cur = t[1];
    if (cur) out.push(line);
    const s = /^\s*\.size\s+([^,\s]+),/.exec(line);
    if (s && s[1] === cur) {
      cur = null;
      out.push('');
    }
  }
  return out.join('\n');
}
