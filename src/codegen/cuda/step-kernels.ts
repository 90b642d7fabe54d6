import type { Graph } from '../../ir/graph.ts';
import { describeRule, ruleParam, SELECT_MODES, type SelectionRule } from '../../ir/select-rule.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import type { CudaKernel, IntExpr, ParamSpec } from './types.ts';

/**
 * The decode step's kernels around a forward graph (templates/fd_decode.cuh): `decode_window`
 * copies the forward's window of token ids out of the device canvas, and `select_scatter` runs
 * the greedy selection step (mask_fill, the selection rule of ir/select-rule.ts, scatter_tokens)
 * on the head's x0 and confidence, writes the chosen tokens into the canvas, and leaves the step's
 * record for one read-back. They are planned with the forward (their grids are in its dims:
 * the `ids` and `headRows` inputs) and launched by the device decode step, which LLaDA's greedy
 * routines use; Dream's algs select from the logits on the host (not lowered yet).
 */
export function planStepKernels(g: Graph): CudaKernel[] {
  const ids = inputNamed(g, 'ids'), head = inputNamed(g, 'headRows');
  if (ids === undefined || head === undefined) return [];
  const c = (v: number): IntExpr => ({ k: 'const', v });
  const step = (name: string, int = false): ParamSpec => (int ? { k: 'step', name, bits: 32 } : { k: 'step', name });
  const base = { nodes: [], reads: [], writes: [], minArch: 70, config: {}, meta: {}, templates: ['fd_common.cuh', 'fd_decode.cuh'] };
  return [
    {
      ...base,
      name: 'decode_window',
      family: 'decode_window',
      fuses: ['canvas window'],
      shim: 'extern "C" __global__ void __launch_bounds__(128) decode_window(const fd::i32* canvas, fd::i32* ids, int L, int T, int a) {\n'
        + '  fd::decode_window(canvas, ids, L, T, a);\n}\n',
      params: [step('canvas'), step('ids'), step('L', true), step('T', true), step('a', true)],
      grid: [{ k: 'ceil', a: { k: 'dim', id: ids, axis: 1 }, by: 128 }, { k: 'dim', id: ids, axis: 0 }, c(1)],
      block: [128, 1, 1],
    },
    {
      ...base,
      name: 'select_scatter',
      family: 'select_scatter',
      fuses: ['mask_fill', 'selection rule (topk | threshold | factor)', 'scatter_tokens', 'mask count'],
      shim: 'extern "C" __global__ void __launch_bounds__(256) select_scatter(const fd::i32* x0, const double* conf, const fd::u8* args, fd::i32* canvas,\n'
        + '    fd::u8* record, int B, int R, int L, int mode, int mask_id) {\n'
        + '  fd::select_scatter<256>(x0, conf, args, canvas, record, B, R, L, mode, mask_id);\n}\n',
      params: [step('x0'), step('confidence'), step('args'), step('canvas'), step('record'),
        ...['B', 'R', 'L', 'mode', 'maskId'].map((n) => step(n, true))],
      grid: [{ k: 'dim', id: head, axis: 0 }, c(1), c(1)],
      block: [256, 1, 1],
    },
  ];
}

function inputNamed(g: Graph, name: string): number | undefined {
  return g.nodes.find((n) => n.op === 'input' && (n.attrs as OpAttrs['input']).name === name)?.id;
}

/** select_scatter's launch arguments that carry the rule. */
export interface SelectScatterArgs {
  /** The mode number (ir/select-rule.ts's SELECT_MODES, which fd_decode.cuh sees as FD_SELECT_*). */
  mode: number;
  /** The threshold (as the rule rounded it) or the factor; 0 for top-k. Uploaded as an f64. */
  param: number;
}

/**
 * The arguments with which select_scatter applies `rule` (ResolvedOptions.rule): planned from
 * the rule itself, so no layer recovers it from a graph. Ties: the kernel ranks equal
 * confidences lower index first (candidate_rank), as the rule says.
 */
export function selectScatterArgs(rule: SelectionRule): SelectScatterArgs {
  const gap = selectScatterGap(rule);
  if (gap) throw new RangeError(gap);
  return { mode: SELECT_MODES[rule.mode], param: ruleParam(rule) };
}

/**
 * Why select_scatter cannot apply `rule`, or undefined when it can: it compares f64 confidences
 * with >= (Fast-dLLM v1); v2's strict or bf16 comparison selects on the host.
 */
export function selectScatterGap(rule: SelectionRule): string | undefined {
  if (rule.mode === 'threshold' && (rule.comparison !== '>=' || rule.precision === 'bf16')) return `select_scatter: no device form of the rule "${describeRule(rule)}"`;
  return undefined;
}
