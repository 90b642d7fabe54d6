import type { OpAttrs } from '../../ir/ops.ts';
import { gemmShim, type GemmDesc, type GemmSegment } from './gemm.ts';
import type { Group } from './groups.ts';
import { distinctOps, I, P, type PlanBuilder } from './plan-builder.ts';
import { headSelectShim } from './small-kernels.ts';
import type { CudaKernel, HeadOutputs, PackSpec, ParamSpec } from './types.ts';

/** The cos / sin table parameter of a rope node (its positions must be a graph input: the host reads them). */
export function ropeTable(b: PlanBuilder, ropeId: number): ParamSpec {
  const r = b.node(ropeId);
  const a = r.attrs as OpAttrs['rope'];
  if (b.node(r.inputs[1]).op !== 'input') throw new Error(`cuda rope #${ropeId}: positions must be a graph input`);
  return { k: 'rope', headDim: a.headDim, theta: a.theta, positions: r.inputs[1] };
}

type GemmGroup = Extract<Group, { kind: 'gemm' }>;

const paramName = (b: PlanBuilder, id: number, what: string): string => {
  const n = b.node(id);
  if (n.op !== 'param') throw new Error(`cuda codegen: the ${what} must be a parameter, got ${n.op} (node #${id})`);
  return (n.attrs as { name: string }).name;
};

/** The GEMM kernel of a group (and the head-select kernel after an LM head). */
export function renderGemmGroup(b: PlanBuilder, grp: GemmGroup, headOutputs: HeadOutputs): CudaKernel[] {
  const g = b.g;
  const mms = grp.matmuls.map((id) => {
    const n = b.node(id);
    const a = n.attrs as OpAttrs['matmul'];
    return {
      id,
      weight: paramName(b, n.inputs[1], `weight of matmul #${id}`),
      n: b.staticDim(n.inputs[1], 0, 'matmul weight'),
      k: b.staticDim(n.inputs[1], 1, 'matmul weight'),
      bias: a.hasBias ? paramName(b, n.inputs[2], `bias of matmul #${id}`) : null,
      res: a.hasResidual ? n.inputs[2 + Number(a.hasBias)] : null,
    };
  });
  const K = mms[0].k;
  const N = mms.reduce((s, m) => s + m.n, 0);
  const wdt = b.precision;
  const normNode = grp.norm === null ? null : b.node(grp.norm);
  const gatherNode = grp.gather === null ? null : b.node(grp.gather);
  const epiKind = grp.epi.kind;
  const segs = grp.epi.kind === 'seg' ? grp.epi.segs : [];
  const ropeOf = (r: number | null) => (r === null ? 0 : (b.node(r).attrs as OpAttrs['rope']).headDim);

  // Weight and bias packs: rows in segment order (SwiGLU: gate/up interleaved), RoPE heads reordered.
  const parts = mms.map((m, i) => ({ param: m.weight, rows: m.n, ropeHeadDim: ropeOf(segs[i]?.rope ?? null) }));
  const interleave = epiKind === 'glu';
  const wPack = parts.length === 1 && parts[0].ropeHeadDim === 0
    ? b.rawPack(b.node(mms[0].id).inputs[1], wdt)
    : b.addPack({ key: `pack:${wdt}:${interleave ? 'glu:' : ''}${JSON.stringify(parts)}`, dtype: wdt, rows: N, cols: K, interleave, parts });
  let biasPack: string | null = null;
  if (mms.some((m) => m.bias)) {
    const bparts: PackSpec['parts'] = mms.map((m, i) => ({ param: m.bias, rows: m.n, ropeHeadDim: parts[i].ropeHeadDim }));
    biasPack = b.addPack({ key: `bias:${interleave ? 'glu:' : ''}${JSON.stringify(bparts)}`, dtype: 'f32', rows: N, cols: 0, interleave, parts: bparts });
  }

  const seg = (s: (typeof segs)[number], width: number): GemmSegment => {
    const rope = s.rope === null ? null : (b.node(s.rope).attrs as OpAttrs['rope']);
    return { width, rope: rope && { headDim: rope.headDim, theta: rope.theta }, cache: s.cacheWrite !== null, out: b.dtype(s.value) };
  };
  const desc: GemmDesc = {
    precision: wdt,
    n: N,
    k: K,
    a: b.operandDType(grp.src),
    gather: gatherNode !== null,
    norm: normNode ? { eps: (normNode.attrs as OpAttrs['rmsnorm']).eps } : null,
    bias: biasPack !== null,
    res: mms[0].res !== null,
    epi: grp.epi.kind === 'seg' ? { kind: 'seg', segs: segs.map((s, i) => seg(s, mms[i].n)) }
      : grp.epi.kind === 'glu' ? { kind: 'glu', out: b.dtype(grp.epi.siluMul) }
        : { kind: 'head', writeLogits: headOutputs === 'both' },
    cfg: b.gemmConfig({ n: N, k: K }, grp.epi.kind === 'head'),
  };
  const { name, shim, reduce } = gemmShim(desc);
  const split = desc.cfg.splitK ?? 1;

  const mm0 = mms[0].id;
  const cacheSeg = segs.find((s) => s.cacheWrite !== null);
  const cw = cacheSeg ? b.node(cacheSeg.cacheWrite!) : null;
  const ropeSeg = segs.find((s) => s.rope !== null);
  const posId = ropeSeg ? b.node(ropeSeg.rope!).inputs[1] : null;
  const rank = b.node(mm0).shape.length;
  const outs: ParamSpec[] = [P.null, P.null, P.null];
  const writes: number[] = [];
  if (grp.epi.kind === 'seg') segs.forEach((s, i) => { outs[i] = P.v(s.value); writes.push(s.value); });
  else if (grp.epi.kind === 'glu') { outs[0] = P.v(grp.epi.siluMul); writes.push(grp.epi.siluMul); }
  else { if (desc.epi.kind === 'head' && desc.epi.writeLogits) outs[0] = P.v(mm0); writes.push(mm0); }
  const tiles = Math.ceil(N / desc.cfg.bn);
  const stats = epiKind === 'head' ? b.addScratch({ name: 'headStats', elemBytes: 16, count: I.mul(I.rows(mm0), tiles) })
    // Split-K partial sums [split, M, N] and sums of squares [split, M], f32; one buffer per kernel.
    : split > 1 ? b.addScratch({ name: `splitK:${name}`, elemBytes: 4, count: I.mul(I.rows(mm0), split * (N + 1)) }) : null;
  const params: ParamSpec[] = [
    b.operand(grp.src),
    gatherNode ? P.v(gatherNode.inputs[1]) : P.null,
    normNode ? P.w(b.rawPack(normNode.inputs[1], 'f32')) : P.null,
    P.w(wPack),
    biasPack ? P.w(biasPack) : P.null,
    mms[0].res !== null ? b.operand(mms[0].res) : P.null,
    ...outs,
    posId !== null ? P.v(posId) : P.null,
    ropeSeg ? ropeTable(b, ropeSeg.rope!) : P.null,
    stats ? { k: 'scratch', name: stats } : P.null,
    P.i32(I.rows(mm0)),
    P.i32(gatherNode ? I.dim(grp.src, 1) : rank >= 3 ? I.dim(mm0, 1) : I.c(1)),
    P.i32(gatherNode ? I.dim(gatherNode.inputs[1], 1) : I.c(1)),
    P.i32(cw ? I.dim(cw.inputs[0], 1) : I.c(0)),
    P.i32(cw ? I.scalar(cw.inputs[2]) : I.c(0)),
  ];
  const reads = [grp.src, gatherNode?.inputs[1], mms[0].res, posId].filter((x): x is number => x !== null && x !== undefined && b.node(x).op !== 'param');
  const nodes = [grp.norm, grp.gather, ...grp.matmuls, ...segs.flatMap((s) => [s.rope, s.cacheWrite]), grp.epi.kind === 'glu' ? grp.epi.siluMul : null]
    .filter((x): x is number => x !== null);
  const gemm: CudaKernel = {
    name,
    family: 'gemm',
    fuses: distinctOps(g, nodes),
    nodes,
    templates: ['fd_common.cuh', 'fd_gemm.cuh'],
    shim,
    params,
    grid: [I.c(tiles), I.ceil(I.rows(mm0), desc.cfg.bm), I.c(split)],
    block: [128, 1, 1],
    reads,
    writes: split > 1 ? [] : writes,
    minArch: desc.cfg.core === 'mma' ? 80 : 70,
    config: { ...desc.cfg },
    meta: { ...desc, tiles },
  };
  if (reduce) {
    // It reads what the partial pass reads, so it is never ready (kernel order) before it.
    return [gemm, { ...gemm, name: reduce.name, family: 'gemm_reduce', shim: reduce.shim, grid: [I.c(Math.ceil(Math.ceil(N / 2) / 128)), I.rows(mm0), I.c(1)], writes }];
  }
  if (epiKind !== 'head') return [gemm];
  const hs = headSelectShim();
  const select: CudaKernel = {
    name: hs.name,
    family: 'head_select',
    fuses: ['argmax', 'softmax', 'confidence'],
    nodes: [mm0],
    templates: ['fd_common.cuh', 'fd_gemm.cuh'],
    shim: hs.shim,
    params: [{ k: 'scratch', name: stats! }, P.i32(I.c(tiles)), P.i32(I.rows(mm0)), { k: 'extra', name: 'x0' }, { k: 'extra', name: 'confidence' }],
    grid: [I.ceil(I.rows(mm0), 4), I.c(1), I.c(1)],
    block: [128, 1, 1],
    reads: [mm0],
    writes: [],
    minArch: 70,
    config: {},
    meta: { tiles },
  };
  return [gemm, select];
}
