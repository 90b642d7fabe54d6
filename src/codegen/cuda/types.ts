import type { Graph } from '../../ir/graph.ts';
import { numel } from '../../util/math.ts';

/** f32: exact comparison with the CPU; bf16: bf16 weights and activations, f32 accumulation. */
export type CudaPrecision = 'f32' | 'bf16';

/** How a value is stored on the device (bool as one byte). */
export type DeviceDType = 'f32' | 'bf16' | 'i32' | 'u8' | 'f64';

export const DEVICE_BYTES: Record<DeviceDType, number> = { f32: 4, bf16: 2, i32: 4, u8: 1, f64: 8 };

/** What the LM head returns: full logits (the CPU decode path), x0 + confidence per row, or both. */
export type HeadOutputs = 'logits' | 'x0conf' | 'both';

/**
 * A run-time integer, resolved from the IR shapes bound at run time (so a plan is pure data):
 * a constant, a dim of a node's shape, the product of its leading dims (rows), its element count,
 * the value of a scalar i32 input, a product, or a ceiling division.
 */
export type IntExpr =
  | { k: 'const'; v: number }
  | { k: 'dim'; id: number; axis: number }
  | { k: 'rows'; id: number }
  | { k: 'numel'; id: number }
  | { k: 'scalar'; id: number }
  | { k: 'mul'; a: IntExpr; b: number }
  | { k: 'ceil'; a: IntExpr; by: number };

/**
 * Largest position + 1 the RoPE (cos, sin) tables cover (2^18: Dream's 32768 and beyond, at most
 * 128 MB of table); the executor refuses larger positions (ir/ops.ts OPERAND_CHECKS.rope).
 */
export const ROPE_MAX_POSITION = 1 << 18;

/** One kernel parameter: where its value comes from at launch. */
export type ParamSpec =
  | { k: 'value'; id: number } // device buffer of an IR value (a cache_write resolves to its state)
  | { k: 'weight'; pack: string } // an uploaded (packed) weight
  | { k: 'null' }
  | { k: 'scratch'; name: string }
  | { k: 'extra'; name: 'x0' | 'confidence' }
  | { k: 'int'; e: IntExpr; bits: 32 | 64 }
  /** RoPE's (cos, sin) table for a head dim and theta, covering the positions in input `positions`. */
  | { k: 'rope'; headDim: number; theta: number; positions: number }
  /** Bound by the device decode step (step-kernels.ts), not by the forward's executor. */
  | { k: 'step'; name: string; bits?: 32 };

/**
 * A weight as uploaded: parts (params, by name) stacked along rows, or interleaved row by row
 * (SwiGLU: gate_j, up_j adjacent); a 'rope' part has the rows of each head reordered so that
 * rows i and i + hd/2 become 2i and 2i + 1. Missing parts (a bias only some projections have)
 * are zeros.
 */
export interface PackSpec {
  key: string;
  dtype: 'f32' | 'bf16';
  rows: number;
  /** Row width; 0 for a vector. */
  cols: number;
  interleave: boolean;
  parts: { param: string | null; rows: number; ropeHeadDim: number }[];
}

/** Device bytes of a weight pack (a column-less pack is one element per row). */
export function packBytes(p: PackSpec): number {
  return p.rows * Math.max(1, p.cols) * DEVICE_BYTES[p.dtype];
}

/** A scratch buffer: `count` elements of `elemBytes`. */
export interface ScratchSpec {
  name: string;
  elemBytes: number;
  count: IntExpr;
}

/** A kernel family: which template body it instantiates. */
export type KernelFamily = 'gemm' | 'gemm_reduce' | 'attention' | 'embed' | 'head_select' | 'rmsnorm' | 'elementwise' | 'copy_rows' | 'repeat_kv' | 'rope' | 'host'
  | 'decode_window' | 'select_scatter';

/** One kernel of a plan, with everything needed to compile it and to launch it. */
export interface CudaKernel {
  /** Module and function name; it spells out every compile-time parameter. */
  name: string;
  family: KernelFamily;
  /** The IR ops it covers, in graph order (what `inspect` prints as "fuses"). */
  fuses: string[];
  /** The IR node ids it covers. */
  nodes: number[];
  /** Template files (templates/) the module needs, in include order. */
  templates: string[];
  /** The thin per-kernel part: constants bound in a config struct and the extern "C" entry point. */
  shim: string;
  params: ParamSpec[];
  grid: [IntExpr, IntExpr, IntExpr];
  block: [number, number, number];
  /** IR values it reads and writes (for buffer liveness). */
  reads: number[];
  writes: number[];
  /** Lowest compute capability (major*10 + minor) it compiles for. */
  minArch: number;
  /** The tuning config it was generated with (printed by inspect). */
  config: Record<string, number | string | boolean>;
  /** The description the shim was generated from (GemmDesc, attention dims, ...), for tools and emulation. */
  meta: Record<string, unknown>;
}

/** The CUDA program of a graph: kernels in launch order, weight packs, storage of every value. */
export interface CudaPlan {
  graph: Graph;
  precision: CudaPrecision;
  headOutputs: HeadOutputs;
  kernels: CudaKernel[];
  packs: PackSpec[];
  scratch: ScratchSpec[];
  /** Device dtype of every materialised IR value (inputs, states, temporaries, outputs). */
  storage: Map<number, DeviceDType>;
  /** cache_write nodes -> the value they update in place (ultimately a state). */
  aliases: Map<number, number>;
  /** The head's rows value (for x0 / confidence shapes), when the plan has a head-select kernel. */
  headRowsOf?: number;
  /**
   * The decode step's kernels around the forward (step-kernels.ts): the window of the device
   * canvas the forward reads, and the greedy selection that scatters into it. Present when the
   * head computes x0 and confidence; launched by the device decode step, not by each run.
   */
  stepKernels: CudaKernel[];
}

/** Resolves the run-time integers of a plan for one call: shapes of nodes and scalar inputs. */
export interface DimResolver {
  shape(id: number): number[];
  scalar(id: number): number;
}

/** Evaluates an IntExpr (see codegen/cuda/types.ts). */
export function evalInt(e: IntExpr, d: DimResolver): number {
  switch (e.k) {
    case 'const': return e.v;
    case 'dim': {
      const s = d.shape(e.id);
      return s[e.axis < 0 ? s.length + e.axis : e.axis];
    }
    case 'rows': return numel(d.shape(e.id).slice(0, -1));
    case 'numel': return numel(d.shape(e.id));
    case 'scalar': return d.scalar(e.id);
    case 'mul': return evalInt(e.a, d) * e.b;
    case 'ceil': return Math.ceil(evalInt(e.a, d) / e.by);
  }
}
