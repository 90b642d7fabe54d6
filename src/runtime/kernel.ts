import type { Graph, Node } from '../ir/graph.ts';
import type { Buf } from './buffers.ts';

/** One executable node: reads `ins` (resolved shapes alongside), writes `out`. */
export type NodeKernel = (ins: Buf[], inShapes: number[][], out: Buf, outShape: number[]) => void;

/** What a backend made of a graph: a kernel per node, and optionally a new layout for weights. */
export interface PreparedGraph {
  kernelFor(node: Node): NodeKernel;
  /** Re-lays a weight once at load (e.g. packed GEMM panels); the kernels expect the result. */
  transformParam?(node: Node, data: Float32Array): Float32Array;
}

/** A CPU-side backend: turns each node of a graph into a NodeKernel. */
export interface HostBackend {
  readonly name: string;
  /** Prepares kernels for a whole graph (a native backend compiles here). */
  prepare(graph: Graph): Promise<PreparedGraph>;
}
