import type { Graph, Node } from '../../ir/graph.ts';
import { isLeaf, type OpAttrs } from '../../ir/ops.ts';
import type { HeadOutputs } from './types.ts';

/** One output column range of a grouped GEMM (see GemmSegment), in IR terms. */
export interface SegmentGroup {
  matmul: number;
  rope: number | null;
  /** The cache_write that takes the (roped) result, when the epilogue writes the cache directly. */
  cacheWrite: number | null;
  /** The IR value the segment produces: the cache_write, the rope, or the matmul. */
  value: number;
}

/** What the CUDA fusion pass decided a kernel covers, before storage types and rendering. */
export type Group =
  | {
      kind: 'gemm';
      matmuls: number[];
      /** The A operand's value (after unfolding the fused norm and gather). */
      src: number;
      norm: number | null;
      gather: number | null;
      epi: { kind: 'seg'; segs: SegmentGroup[] } | { kind: 'glu'; siluMul: number } | { kind: 'head' };
    }
  | { kind: 'node'; node: number };

/**
 * The CUDA fusion pass: groups the (already fused, see ir/passes/fuse.ts) forward graph into
 * kernels. Every matmul becomes a GEMM that absorbs what surrounds it:
 *  - an RMSNorm whose every user is a matmul reading it as input (prologue), and a gather_rows
 *    feeding only that norm (the LM head's rows);
 *  - sibling matmuls of the same input: SwiGLU when two feed one silu_mul (gate, up), else up
 *    to three column segments (Q, K, V), each with its RoPE and its cache_write when those
 *    are the segment's single users;
 *  - residual and bias (already matmul operands after fuse.ts);
 *  - the graph's logits matmul gets the head epilogue (argmax / confidence partials) unless
 *    only logits are wanted.
 * What remains (embedding, attention, anything unfusable) is one kernel per node.
 * A producer is absorbed only when nothing else reads it, so no value a user needs disappears.
 */
export function groupGraph(g: Graph, headOutputs: HeadOutputs): Group[] {
  const users = g.users();
  const isOut = new Set(Object.values(g.outputs));
  const only = (id: number, consumer: number) => users[id].length === 1 && users[id][0] === consumer && !isOut.has(id);
  const covered = new Set<number>();
  const groups: Group[] = [];
  const mmAttrs = (id: number) => g.node(id).attrs as OpAttrs['matmul'];

  for (const n of g.nodes) {
    if (n.op !== 'matmul' || covered.has(n.id)) continue;
    const x = n.inputs[0];
    let src = x, norm: number | null = null, gather: number | null = null;
    const xn = g.node(x);
    if (xn.op === 'rmsnorm' && !isOut.has(x) && g.node(xn.inputs[1]).op === 'param'
      && users[x].every((u) => g.node(u).op === 'matmul' && g.node(u).inputs[0] === x && !g.node(u).inputs.slice(1).includes(x))) {
      norm = x;
      src = xn.inputs[0];
      const sn = g.node(src);
      if (sn.op === 'gather_rows' && only(src, x)) {
        gather = src;
        src = sn.inputs[0];
      }
    }
    const siblings = [...new Set(users[x])].filter((u) => g.node(u).op === 'matmul' && g.node(u).inputs[0] === x && !covered.has(u));
    const head = (id: number) => headOutputs !== 'logits' && isOut.has(id) && !mmAttrs(id).hasResidual;
    const alone = siblings.filter((m) => mmAttrs(m).hasResidual || head(m));
    const plain = siblings.filter((m) => !alone.includes(m));
    const cover = (ids: (number | null)[]) => ids.forEach((i) => i !== null && covered.add(i));
    cover([norm, gather, ...siblings]);

    for (const m of alone) {
      groups.push({ kind: 'gemm', matmuls: [m], src, norm, gather, epi: head(m) ? { kind: 'head' } : { kind: 'seg', segs: [{ matmul: m, rope: null, cacheWrite: null, value: m }] } });
    }
    const glu = plain.length === 2 ? swiglu(g, plain, only) : null;
    if (glu !== null) {
      covered.add(glu);
      groups.push({ kind: 'gemm', matmuls: g.node(glu).inputs.slice(), src, norm, gather, epi: { kind: 'glu', siluMul: glu } });
      continue;
    }
    const segs = plain.map((m) => segmentOf(g, m, only));
    for (const s of segs) cover([s.rope, s.cacheWrite]);
    for (const chunk of chunkSegments(g, segs)) {
      groups.push({ kind: 'gemm', matmuls: chunk.map((s) => s.matmul), src, norm, gather, epi: { kind: 'seg', segs: chunk } });
    }
  }
  for (const n of g.nodes) {
    if (covered.has(n.id) || isLeaf(n.op) || n.op === 'matmul') continue;
    groups.push({ kind: 'node', node: n.id });
  }
  return groups;
}

/** The silu_mul that two sibling matmuls feed as (gate, up), with nothing else reading them. */
function swiglu(g: Graph, pair: number[], only: (id: number, c: number) => boolean): number | null {
  const [a, b] = pair;
  const users = g.users();
  const s = users[a][0];
  if (s === undefined || g.node(s).op !== 'silu_mul' || !only(a, s) || !only(b, s)) return null;
  const [gate, up] = g.node(s).inputs;
  if (!((gate === a && up === b) || (gate === b && up === a))) return null;
  if (g.node(a).shape.at(-1) !== g.node(b).shape.at(-1)) return null;
  return s;
}

function segmentOf(g: Graph, m: number, only: (id: number, c: number) => boolean): SegmentGroup {
  const users = g.users();
  let value = m, rope: number | null = null, cacheWrite: number | null = null;
  const u = users[m][0];
  if (u !== undefined && g.node(u).op === 'rope' && g.node(u).inputs[0] === m && only(m, u)) {
    rope = u;
    value = u;
  }
  const c = users[value][0];
  if (c !== undefined && g.node(c).op === 'cache_write' && g.node(c).inputs[1] === value && g.node(c).inputs[0] !== value
    && only(value, c) && g.node(g.node(c).inputs[2]).op === 'input') {
    cacheWrite = c;
    value = c;
  }
  return { matmul: m, rope, cacheWrite, value };
}

/** Splits segments into kernels of at most three that share one RoPE, positions, cache shape and start. */
function chunkSegments(g: Graph, segs: SegmentGroup[]): SegmentGroup[][] {
  const ropeKey = (s: SegmentGroup) => {
    if (s.rope === null) return null;
    const r = g.node(s.rope) as Node<'rope'>;
    return JSON.stringify([r.attrs.headDim, r.attrs.theta, r.inputs[1]]);
  };
  const cacheKey = (s: SegmentGroup) => {
    if (s.cacheWrite === null) return null;
    const c = g.node(s.cacheWrite);
    return JSON.stringify([g.node(c.inputs[0]).shape[1], c.inputs[2]]);
  };
  const chunks: SegmentGroup[][] = [];
  for (const s of segs) {
    const last = chunks.at(-1);
    const fits = last && last.length < 3
      && [ropeKey(s), ...last.map(ropeKey)].filter((k) => k !== null).every((k, _, a) => k === a[0])
      && [cacheKey(s), ...last.map(cacheKey)].filter((k) => k !== null).every((k, _, a) => k === a[0])
      && (g.node(s.matmul).shape.at(-1) as number) % 2 === 0 && last.every((x) => (g.node(x.matmul).shape.at(-1) as number) % 2 === 0);
    if (fits) last.push(s);
    else chunks.push([s]);
  }
  return chunks;
}
