import { GraphBuilder, type Tensor } from '../ir/builder.ts';
import type { Graph } from '../ir/graph.ts';

/**
 * What the runtime needs to know of any diffusion decoder, whatever its layers look like.
 * Model definitions map an HF config.json to one of these (plus their own fields).
 */
export interface DecoderConfig {
  /** Registry key, e.g. 'llada', 'dream'. */
  architecture: string;
  /** Width of the logits (rows of the LM head). */
  vocabSize: number;
  dModel: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  maskId: number;
  eosId: number;
  padId: number;
  /** Longest canvas (prompt + generation) the model allows. */
  maxSeqLen: number;
  /** Dream: the logit at row j - 1 predicts token j (REFERENCE.md section 2). */
  logitShift: boolean;
}

/**
 * The forward contract every model graph follows, so one runtime drives any model:
 * the window `ids` [B, T] at absolute `positions` [B, T] is written into each layer's KV cache
 * at rows [start, start + T); queries attend to cache rows [0, K) where `keyMask` [B, K] is
 * true; logits are computed only for the window rows listed in `headRows` [B, R].
 * Output: `logits` [B, R, vocab].
 */
export interface ForwardIO {
  ids: Tensor;
  positions: Tensor;
  start: Tensor;
  keyMask: Tensor;
  headRows: Tensor;
}

/** Declares the standard forward inputs on a builder. */
export function declareForwardIO(b: GraphBuilder): ForwardIO {
  return {
    ids: b.input('ids', 'i32', ['B', 'T']),
    positions: b.input('positions', 'i32', ['B', 'T']),
    start: b.input('start', 'i32', []),
    keyMask: b.input('keyMask', 'bool', ['B', 'K']),
    headRows: b.input('headRows', 'i32', ['B', 'R']),
  };
}

/** The K and V cache of one layer: [B, Kmax, kvDim], rows are canvas positions. */
export function declareKvCache(b: GraphBuilder, layer: number, kvDim: number): { k: Tensor; v: Tensor } {
  return {
    k: b.state(`cache.k.${layer}`, 'f32', ['B', 'Kmax', kvDim]),
    v: b.state(`cache.v.${layer}`, 'f32', ['B', 'Kmax', kvDim]),
  };
}

/** How a random checkpoint initialises a weight. */
export type WeightInit = { kind: 'normal'; std: number } | { kind: 'ones' };

/** Options a definition's build sees: which optional weights the checkpoint actually has. */
export interface BuildOptions {
  hasWeight(name: string): boolean;
}

/** A model written with the DSL: config mapping plus a graph-building function. */
export interface ModelDefinition<C extends DecoderConfig = DecoderConfig> {
  architecture: string;
  /** True when this definition reads the given HF config.json. */
  matches(hf: Record<string, unknown>): boolean;
  /** Maps config.json to the model config; `file` is named in errors. */
  fromHfConfig(hf: Record<string, unknown>, file: string): C;
  /** Builds the forward graph (see ForwardIO) on `b`. */
  build(b: GraphBuilder, cfg: C, opts: BuildOptions): void;
  /** Optional weights a config implies (used where no checkpoint exists yet). */
  impliedWeights?(cfg: C): string[];
  /** Random-checkpoint init of a weight; the default is normal(0.02), norms ones. */
  init?(name: string, shape: readonly number[]): WeightInit;
}

/** Builds the forward graph of a definition. */
export function buildForwardGraph<C extends DecoderConfig>(def: ModelDefinition<C>, cfg: C, opts: BuildOptions): Graph {
  const b = new GraphBuilder();
  def.build(b, cfg, opts);
  return b.build();
}
