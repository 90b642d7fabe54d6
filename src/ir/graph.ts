import { createHash } from 'node:crypto';
import type { DType } from './dtype.ts';
import type { OpAttrs, OpKind } from './ops.ts';
import type { Shape } from './shape.ts';

/** One IR node. Nodes are numbered in topological order: inputs always precede users. */
export interface Node<K extends OpKind = OpKind> {
  readonly id: number;
  readonly op: K;
  readonly inputs: readonly number[];
  readonly attrs: OpAttrs[K];
  readonly dtype: DType;
  readonly shape: Shape;
}

/**
 * An immutable graph: nodes in topological order and named outputs. Passes return new graphs.
 * `hash` is structural: two graphs built the same way hash the same, whatever object identity.
 */
export class Graph {
  readonly nodes: readonly Node[];
  readonly outputs: Readonly<Record<string, number>>;
  readonly hash: string;

  constructor(nodes: readonly Node[], outputs: Record<string, number>) {
    nodes.forEach((n, i) => {
      if (n.id !== i) throw new Error(`graph: node ${i} has id ${n.id}`);
      for (const x of n.inputs) if (x >= i) throw new Error(`graph: node ${i} (${n.op}) uses later node ${x}`);
    });
    this.nodes = Object.freeze(nodes.map((n) => Object.freeze({ ...n })));
    this.outputs = Object.freeze({ ...outputs });
    this.hash = structuralHash(this.nodes, this.outputs);
  }

  node(id: number): Node {
    return this.nodes[id];
  }

  /** Nodes of one op kind, in order. */
  ofKind<K extends OpKind>(op: K): Node<K>[] {
    return this.nodes.filter((n): n is Node<K> => n.op === op);
  }

  /** For each node, the ids of the nodes that read it. */
  users(): number[][] {
    const u: number[][] = this.nodes.map(() => []);
    for (const n of this.nodes) for (const i of n.inputs) u[i].push(n.id);
    return u;
  }
}

function structuralHash(nodes: readonly Node[], outputs: Record<string, number>): string {
  const h = createHash('sha256');
  for (const n of nodes) h.update(JSON.stringify([n.op, n.inputs, n.attrs, n.dtype, n.shape]) + '\n');
  h.update(JSON.stringify(Object.entries(outputs).sort()));
  return h.digest('hex');
}
