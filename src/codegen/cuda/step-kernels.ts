import type { Graph, Node } from '../../ir/graph.ts';
import type { OpAttrs } from '../../ir/ops.ts';
import type { CudaKernel, IntExpr, ParamSpec } from './types.ts';

/**
 * The decode step's kernels around a forward graph (templates/fd_decode.cuh): `decode_window`
 * copies the forward's window of token ids out of the device canvas, and `select_scatter` runs
 * the greedy selection step (decode/select-graph.ts: mask_fill, select, scatter_tokens) on the
 * head's x0 and confidence, writes the chosen tokens into the canvas, and leaves the step's
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
      fuses: ['mask_fill', 'select_topk|select_threshold|select_factor', 'scatter_tokens', 'mask count'],
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

/** select_scatter's mode argument (fd_decode.cuh's SELECT_* values). */
export const SELECT_MODES = { topk: 0, threshold: 1, factor: 2 } as const;

/** A selection step lowered to select_scatter's launch arguments. */
export interface LoweredSelect {
  mode: keyof typeof SELECT_MODES;
  /** The threshold (rounded to f32 when the op compares in f32) or the factor; 0 for top-k. */
  param: number;
  /** The IR ops it stands for. */
  fuses: string[];
}

/**
 * Lowers a greedy selection graph (decode/select-graph.ts, source 'decisions') to
 * select_scatter: confidence input (f64) -> mask_fill(candidate, -inf) -> one select op ->
 * scatter_tokens of the x0 input into the canvas. Anything else returns the reason it cannot.
 */
export function lowerSelectGraph(g: Graph): LoweredSelect | string {
  const one = (op: string): Node | undefined => {
    const ns = g.nodes.filter((n) => n.op === op);
    return ns.length === 1 ? ns[0] : undefined;
  };
  const input = (id: number, name: string) => g.node(id).op === 'input' && (g.node(id).attrs as OpAttrs['input']).name === name;
  const sel = g.nodes.filter((n) => n.op === 'select_topk' || n.op === 'select_threshold' || n.op === 'select_factor');
  const fill = one('mask_fill'), scatter = one('scatter_tokens');
  if (sel.length !== 1 || !fill || !scatter) return 'the graph is not one mask_fill, one select and one scatter_tokens';
  const s = sel[0];
  if (g.node(fill.inputs[0]).dtype !== 'f64' || !input(fill.inputs[0], 'confidence')) return 'the confidence must be an f64 input';
  if ((fill.attrs as OpAttrs['mask_fill']).value !== -Infinity || !input(fill.inputs[1], 'candidate')) return 'non-candidates must be masked to -inf';
  if (s.inputs[0] !== fill.id) return 'the selection must read the masked confidence';
  const [canvas, positions, tokens, chosen] = scatter.inputs;
  if (!input(canvas, 'canvas') || !input(positions, 'positions') || !input(tokens, 'x0') || chosen !== s.id) return 'scatter_tokens must write the x0 input at the positions input';
  const fuses = ['mask_fill', s.op, 'scatter_tokens'];
  if (s.op === 'select_topk') {
    if (!input(s.inputs[1], 'k')) return 'top-k needs the k input';
    return { mode: 'topk', param: 0, fuses };
  }
  if (s.op === 'select_threshold') {
    const a = s.attrs as OpAttrs['select_threshold'];
    return { mode: 'threshold', param: a.precision === 'f32' ? Math.fround(a.threshold) : a.threshold, fuses };
  }
  return { mode: 'factor', param: (s.attrs as OpAttrs['select_factor']).factor, fuses };
}
