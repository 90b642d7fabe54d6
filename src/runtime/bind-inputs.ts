import type { Graph } from '../ir/graph.ts';
import { bindShape, type DimBindings } from '../ir/shape.ts';
import { numel } from '../util/math.ts';
import { bufMatches, type HostTensor } from './buffers.ts';

/** A run's inputs and states checked against the graph: node id -> tensor, and the dims they bind. */
export interface BoundInputs {
  dims: DimBindings;
  tensors: Map<number, HostTensor>;
}

/**
 * Matches a run's named inputs and states to the graph's input / state nodes: each must be
 * present, of the node's dtype, with as many elements as its shape, and the shapes must bind
 * the graph's symbolic dims consistently. Both executors (CPU and GPU) start a run with this.
 */
export function bindRunInputs(g: Graph, inputs: Record<string, HostTensor>, states: Record<string, HostTensor>): BoundInputs {
  const dims: DimBindings = {};
  const tensors = new Map<number, HostTensor>();
  for (const n of g.nodes) {
    if (n.op !== 'input' && n.op !== 'state') continue;
    const name = (n.attrs as { name: string }).name;
    const t = (n.op === 'input' ? inputs : states)[name];
    if (!t) throw new Error(`graph run: missing ${n.op} '${name}'`);
    if (!bufMatches(n.dtype, t.data)) throw new Error(`graph run: ${n.op} '${name}' must be ${n.dtype}`);
    bindShape(n.shape, t.shape, dims, `${n.op} '${name}'`);
    if (numel(t.shape) !== t.data.length) throw new Error(`graph run: ${n.op} '${name}' has ${t.data.length} elements for shape [${t.shape}]`);
    tensors.set(n.id, t);
  }
  return { dims, tensors };
}
