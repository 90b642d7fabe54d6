import type { Graph, Node } from '../../ir/graph.ts';
import { DEFAULT_SMS, defaultGemmConfig, gemmValid, type CudaGemmConfig, type GemmShape } from './tuning.ts';
import type { CudaPrecision, DeviceDType, IntExpr, PackSpec, ParamSpec, ScratchSpec } from './types.ts';

/** Shared state of one planning run: weight packs, scratch buffers, storage, small helpers. */
export class PlanBuilder {
  private readonly packs = new Map<string, PackSpec>();
  private readonly scratch = new Map<string, ScratchSpec>();

  constructor(
    readonly g: Graph,
    readonly precision: CudaPrecision,
    readonly storage: Map<number, DeviceDType>,
    private readonly tuned?: (shape: GemmShape, head: boolean) => CudaGemmConfig | undefined,
    /** SMs of the GPU the default tile choice plans for (tuning.ts DEFAULT_SMS when unknown). */
    readonly sms = DEFAULT_SMS,
  ) {}

  node(id: number): Node {
    return this.g.node(id);
  }

  /** A dim that must be known at code-generation time (it becomes a template constant). */
  staticDim(id: number, axis: number, what: string): number {
    const s = this.g.node(id).shape;
    const d = s[axis < 0 ? s.length + axis : axis];
    if (typeof d !== 'number') throw new Error(`cuda codegen: ${what} needs a static dim, got '${d}' (node #${id}, ${this.g.node(id).op})`);
    return d;
  }

  /** Storage of a materialised value. */
  dtype(id: number): DeviceDType {
    const d = this.storage.get(id);
    if (d === undefined) throw new Error(`cuda codegen: value #${id} (${this.g.node(id).op}) has no storage`);
    return d;
  }

  /** An operand: params are uploaded as they are (f32), everything else is a device value. */
  operand(id: number): ParamSpec {
    const n = this.g.node(id);
    if (n.op === 'param') return { k: 'weight', pack: this.rawPack(id, 'f32') };
    return { k: 'value', id };
  }

  /** Storage of an operand (params are uploaded f32 by `operand`). */
  operandDType(id: number): DeviceDType {
    return this.g.node(id).op === 'param' ? 'f32' : this.dtype(id);
  }

  /** A param uploaded unchanged, in `dtype`; returns the pack key. */
  rawPack(paramId: number, dtype: 'f32' | 'bf16'): string {
    const n = this.g.node(paramId);
    if (n.op !== 'param') throw new Error(`cuda codegen: node #${paramId} (${n.op}) is not a parameter`);
    const name = (n.attrs as { name: string }).name;
    const rows = this.staticDim(paramId, 0, `parameter '${name}'`);
    const cols = n.shape.length > 1 ? n.shape.slice(1).reduce<number>((p, _d, i) => p * this.staticDim(paramId, i + 1, `parameter '${name}'`), 1) : 0;
    return this.addPack({ key: `raw:${dtype}:${name}`, dtype, rows, cols, interleave: false, parts: [{ param: name, rows, ropeHeadDim: 0 }] });
  }

  addPack(p: PackSpec): string {
    if (!this.packs.has(p.key)) this.packs.set(p.key, p);
    return p.key;
  }

  addScratch(s: ScratchSpec): string {
    this.scratch.set(s.name, s);
    return s.name;
  }

  packList(): PackSpec[] {
    return [...this.packs.values()];
  }

  scratchList(): ScratchSpec[] {
    return [...this.scratch.values()];
  }

  gemmConfig(shape: GemmShape, head = false): CudaGemmConfig {
    const t = this.tuned?.(shape, head);
    const cfg = t && gemmValid(t, shape, this.precision, head) === null ? t : defaultGemmConfig(this.precision, head, shape, this.sms);
    const why = gemmValid(cfg, shape, this.precision, head);
    if (why) throw new Error(`cuda gemm n ${shape.n} k ${shape.k}: ${why}`);
    return cfg;
  }
}

/** IntExpr constructors. */
export const I = {
  c: (v: number): IntExpr => ({ k: 'const', v }),
  dim: (id: number, axis: number): IntExpr => ({ k: 'dim', id, axis }),
  rows: (id: number): IntExpr => ({ k: 'rows', id }),
  numel: (id: number): IntExpr => ({ k: 'numel', id }),
  scalar: (id: number): IntExpr => ({ k: 'scalar', id }),
  mul: (a: IntExpr, b: number): IntExpr => ({ k: 'mul', a, b }),
  ceil: (a: IntExpr, by: number): IntExpr => ({ k: 'ceil', a, by }),
};

/** ParamSpec constructors. */
export const P = {
  v: (id: number): ParamSpec => ({ k: 'value', id }),
  w: (pack: string): ParamSpec => ({ k: 'weight', pack }),
  null: { k: 'null' } as ParamSpec,
  i32: (e: IntExpr): ParamSpec => ({ k: 'int', e, bits: 32 }),
  i64: (e: IntExpr): ParamSpec => ({ k: 'int', e, bits: 64 }),
};

/**
 * The distinct op kinds of a kernel's nodes, in node order (what a CUDA kernel "fuses"); a node's
 * attributes are not expanded (a residual matmul is 'matmul'), unlike the CPU listing's unfusedOps.
 */
export function distinctOps(g: Graph, ids: number[]): string[] {
  return [...new Set([...ids].sort((a, b) => a - b).map((i) => g.node(i).op))];
}
