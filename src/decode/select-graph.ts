import { GraphBuilder } from '../ir/builder.ts';
import type { Graph } from '../ir/graph.ts';
import { GraphExecutor } from '../runtime/executor.ts';
import { referenceKernel } from '../runtime/reference/backend.ts';
import type { HostTensor } from '../runtime/buffers.ts';
import { describeRule, type SelectionRule } from '../ir/select-rule.ts';
import type { ResolvedOptions } from './options.ts';

/**
 * LLaDA's greedy decision step as IR (REFERENCE.md section 3), for the host targets and inspect:
 * x0 = argmax(logits); confidence = softmax(logits)[x0] in f64; non-candidates get -inf; select
 * by `rule` (ResolvedOptions.rule; its select op applies ir/select-rule.ts); scatter the chosen
 * tokens into the canvas. The device step does not read this graph: it takes the rule itself.
 * Inputs: logits [B, R, V] (source 'logits') or x0 [B, R] and confidence [B, R] f64 already
 * computed by the forward's fused head (source 'decisions'); positions [B, R] (canvas index of
 * each head row), candidate [B, R] (false for padding rows), canvas [B, L], k [B].
 * Outputs: canvas, x0, confidence, selected.
 */
export function buildLladaSelectGraph(rule: SelectionRule, vocab: number, source: SelectSource = 'logits'): Graph {
  const b = new GraphBuilder();
  const logits = source === 'logits' ? b.input('logits', 'f32', ['B', 'R', vocab]) : undefined;
  const positions = b.input('positions', 'i32', ['B', 'R']);
  const candidate = b.input('candidate', 'bool', ['B', 'R']);
  const canvas = b.input('canvas', 'i32', ['B', 'L']);
  const k = b.input('k', 'i32', ['B']);
  const x0 = logits ? b.argmax(logits) : b.input('x0', 'i32', ['B', 'R']);
  const rawConf = logits ? b.confidence(logits, 'prob', 'f64') : b.input('confidence', 'f64', ['B', 'R']);
  const conf = b.maskFill(rawConf, candidate, -Infinity);
  // The IR's select_threshold is v1's (>=, f32 or f64); v2's strict / bf16 rule has no graph form.
  if (rule.mode === 'threshold' && (rule.comparison !== '>=' || rule.precision === 'bf16')) throw new RangeError(`selection graph: no IR form of the rule "${describeRule(rule)}"`);
  const sel = rule.mode === 'factor' ? b.selectFactor(conf, rule.factor)
    : rule.mode === 'threshold' ? b.selectThreshold(conf, rule.threshold, rule.precision as 'f32' | 'f64')
    : b.selectTopk(conf, k);
  b.output('canvas', b.scatterTokens(canvas, positions, x0, sel));
  b.output('x0', x0);
  b.output('confidence', conf);
  b.output('selected', sel);
  return b.build();
}

/** Where the selection step gets x0 and confidence: from logits, or from the forward itself. */
export type SelectSource = 'logits' | 'decisions';

/** Runs the selection step on the host (the CPU target's kernels for these ops). */
export class LladaSelectStep {
  private constructor(private readonly exec: GraphExecutor) {}

  static create(o: ResolvedOptions, vocab: number, source: SelectSource = 'logits'): LladaSelectStep {
    const graph = buildLladaSelectGraph(o.rule, vocab, source);
    return new LladaSelectStep(GraphExecutor.fromPrepared(graph, { kernelFor: referenceKernel }, () => { throw new Error('selection has no weights'); }));
  }

  run(inputs: Record<string, HostTensor>): Record<string, HostTensor> {
    return this.exec.run(inputs);
  }
}
