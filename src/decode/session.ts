/** The decode events every routine reports (the engine's, v2's). */
export type StepKind = 'full' | 'prefix' | 'dual';
/** Fast-dLLM v2's forwards (REFERENCE-V2.md): prompt prefill, window step, sub-block step, block commit. */
export type V2StepKind = 'prefill' | 'block' | 'sub' | 'commit';

/** What one forward decided for one batch row. */
export interface RowDecision {
  row: number;
  /** Canvas positions unmasked by this step (relative to the row's generated region). */
  positions: number[];
  tokens: number[];
  confidences: number[];
}

export type DecodeEvent =
  | { type: 'step'; kind: StepKind | V2StepKind; nfe: number; block: number; rows: RowDecision[]; ms: number }
  | { type: 'block'; block: number; nfe: number; final?: FinalTokens[] };

/**
 * Tokens of a row that became final when a block ended (Fast-dLLM v2: a committed block never
 * changes), continuing the row's previous final tokens: the block's tokens and the AR token
 * after it (after a block-aligned prompt, that prompt's AR token first).
 */
export interface FinalTokens {
  row: number;
  tokens: number[];
}

