import type { Graph, Node } from '../ir/graph.ts';
import type { Buf } from './buffers.ts';

/** One executable node: reads `ins` (resolved shapes alongside), writes `out`. */
export type NodeKernel = (ins: Buf[], inShapes: number[][], out: Buf, outShape: number[]) => void;

/** A CPU-side backend: turns each node of a graph into a NodeKernel. */
export interface HostBackend {
  readonly name: string;
  /** Prepares kernels for a whole graph (a native backend compiles here). */
  prepare(graph: Graph): Promise<(node: Node) => NodeKernel>;
}
