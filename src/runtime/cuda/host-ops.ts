import type { CudaKernel } from '../../codegen/cuda/types.ts';
import type { Graph } from '../../ir/graph.ts';
import { numel } from '../../util/math.ts';
import { allocBuf } from '../buffers.ts';
import { hostOpKernel } from '../reference/backend.ts';
import type { CudaContext } from './context.ts';
import type { DimResolver } from '../../codegen/cuda/types.ts';

/**
 * Runs one host kernel of a CUDA plan: a selection op (never in a model's forward graph, only in
 * graphs such as decode/select-graph.ts run on the GPU target) computed by the host backends'
 * kernel: its inputs downloaded, its output uploaded back to its device buffer.
 */
export function runHostKernel(ctx: CudaContext, g: Graph, k: CudaKernel, ptrOf: (id: number) => bigint, d: DimResolver): void {
  const node = g.node(k.nodes[0]);
  const kern = hostOpKernel(node);
  if (!kern) throw new Error(`cuda: no host kernel for ${node.op}`);
  const ins = node.inputs.map((i) => {
    const b = allocBuf(g.node(i).dtype, numel(d.shape(i)));
    ctx.download(b, ptrOf(i));
    return b;
  });
  const out = allocBuf(node.dtype, numel(d.shape(node.id)));
  kern(ins, node.inputs.map((i) => d.shape(i)), out, d.shape(node.id));
  ctx.upload(ptrOf(node.id), out);
}
