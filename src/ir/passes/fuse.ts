import { Graph, type Node } from '../graph.ts';
import type { OpAttrs } from '../ops.ts';

/**
 * Fusions every backend profits from (the CUDA backend groups further, into kernels):
 *  - mul(silu(a), b)                  -> silu_mul(a, b)          (SwiGLU in one pass)
 *  - add(matmul(x, W), r)             -> matmul(x, W, residual=r) (residual in the epilogue)
 *  - attention(q, repeat_kv(k), ...)  -> attention(q, k, ...) with kvHeads < heads (GQA read in place)
 * A producer is folded only when its single user is the consumer and it is not a graph output,
 * so no value that anything else reads disappears. Dead nodes are dropped.
 */
export function fuse(g: Graph): Graph {
  const users = g.users();
  const isOutput = new Set(Object.values(g.outputs));
  const foldable = (id: number, consumer: number) =>
    users[id].length === 1 && users[id][0] === consumer && !isOutput.has(id);

  type Draft = { op: Node['op']; inputs: number[]; attrs: unknown; dtype: Node['dtype']; shape: Node['shape'] };
  const drafts: (Draft | null)[] = g.nodes.map((n) => ({ ...n, inputs: [...n.inputs] }) as Draft);

  for (const n of g.nodes) {
    if (n.op === 'mul') {
      const [a, b] = n.inputs;
      const s = g.node(a).op === 'silu' && foldable(a, n.id) ? a : g.node(b).op === 'silu' && foldable(b, n.id) ? b : -1;
      if (s >= 0) {
        const other = s === a ? b : a;
        drafts[n.id] = { ...drafts[n.id]!, op: 'silu_mul', inputs: [g.node(s).inputs[0], other], attrs: {} };
        drafts[s] = null;
      }
    } else if (n.op === 'add') {
      const [a, b] = n.inputs;
      const isPlainMatmul = (id: number) => g.node(id).op === 'matmul' && !(g.node(id).attrs as OpAttrs['matmul']).hasResidual;
      const m = isPlainMatmul(a) && foldable(a, n.id) ? a : isPlainMatmul(b) && foldable(b, n.id) ? b : -1;
      if (m >= 0) {
        const mm = g.node(m) as Node<'matmul'>;
        const residual = m === a ? b : a;
        drafts[n.id] = { ...drafts[n.id]!, op: 'matmul', inputs: [...mm.inputs, residual], attrs: { ...mm.attrs, hasResidual: true } };
        drafts[m] = null;
      }
    } else if (n.op === 'attention') {
      const [q, k, v, mask] = n.inputs;
      const rk = g.node(k), rv = g.node(v);
      if (rk.op === 'repeat_kv' && rv.op === 'repeat_kv' && foldable(k, n.id) && foldable(v, n.id)) {
        const kvHeads = (rk.attrs as OpAttrs['repeat_kv']).kvHeads;
        drafts[n.id] = { ...drafts[n.id]!, inputs: [q, rk.inputs[0], rv.inputs[0], mask], attrs: { ...(n.attrs as OpAttrs['attention']), kvHeads } };
        drafts[k] = null;
        drafts[v] = null;
      }
    }
  }
  return compact(drafts, g.outputs);
}

/** Renumbers surviving drafts, dropping nulls and anything the outputs do not reach. */
function compact(drafts: ({ inputs: number[] } | null)[], outputs: Readonly<Record<string, number>>): Graph {
  const live = new Array<boolean>(drafts.length).fill(false);
  const stack = Object.values(outputs);
  while (stack.length) {
    const id = stack.pop()!;
    if (live[id]) continue;
    const d = drafts[id];
    if (!d) throw new Error(`fuse: output or live value #${id} was folded away`);
    live[id] = true;
    stack.push(...d.inputs);
  }
  const remap = new Map<number, number>();
  const nodes: Node[] = [];
  drafts.forEach((d, id) => {
    if (!d || !live[id]) return;
    remap.set(id, nodes.length);
    nodes.push({ ...(d as unknown as Node), id: nodes.length, inputs: d.inputs.map((i) => remap.get(i)!) });
  });
  const outs: Record<string, number> = {};
  for (const [k, v] of Object.entries(outputs)) outs[k] = remap.get(v)!;
  return new Graph(nodes, outs);
}
