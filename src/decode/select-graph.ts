import { GraphBuilder } from '../ir/builder.ts';
import type { Graph } from '../ir/graph.ts';
import { GraphExecutor } from '../runtime/executor.ts';
import { referenceKernel } from '../runtime/reference/backend.ts';
import type { HostTensor } from '../runtime/buffers.ts';
import type { ResolvedOptions } from './options.ts';

/**
 * LLaDA's greedy decision step as IR (REFERENCE.md section 3), so that every target runs the
 * same step: x0 = argmax(logits); confidence = softmax(logits)[x0] in f64; non-candidates get
 * -inf; select by fixed k, threshold or factor; scatter the chosen tokens into the canvas.
 * Inputs: logits [B, R, V], positions [B, R] (canvas index of each head row), candidate [B, R]
 * (false for padding rows), canvas [B, L], k [B]. Outputs: canvas, x0, confidence, selected.
 */
export function buildLladaSelectGraph(o: Pick<ResolvedOptions, 'threshold' | 'factor'>, vocab: number): Graph {
  const b = new GraphBuilder();
  const logits = b.input('logits', 'f32', ['B', 'R', vocab]);
  const positions = b.input('positions', 'i32', ['B', 'R']);
  const candidate = b.input('candidate', 'bool', ['B', 'R']);
  const canvas = b.input('canvas', 'i32', ['B', 'L']);
  const k = b.input('k', 'i32', ['B']);
  const x0 = b.argmax(logits);
  const conf = b.maskFill(b.confidence(logits, 'prob', 'f64'), candidate, -Infinity);
  const sel = o.factor !== undefined ? b.selectFactor(conf, o.factor)
    : o.threshold !== undefined ? b.selectThreshold(conf, o.threshold, 'f64')
    : b.selectTopk(conf, k);
  b.output('canvas', b.scatterTokens(canvas, positions, x0, sel));
  b.output('x0', x0);
  b.output('confidence', conf);
  b.output('selected', sel);
  return b.build();
}

/** Runs the selection step on the host (the CPU target's kernels for these ops). */
export class LladaSelectStep {
  private constructor(private readonly exec: GraphExecutor) {}

  static create(o: ResolvedOptions, vocab: number): LladaSelectStep {
    const graph = buildLladaSelectGraph(o, vocab);
    return new LladaSelectStep(GraphExecutor.fromPrepared(graph, { kernelFor: referenceKernel }, () => { throw new Error('selection has no weights'); }));
  }

  run(inputs: Record<'logits' | 'positions' | 'candidate' | 'canvas' | 'k', HostTensor>): Record<string, HostTensor> {
    return this.exec.run(inputs);
  }
}
