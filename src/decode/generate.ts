import type { LoadedModel } from '../runtime/loaded-model.ts';
import type { GenerateOptions, ResolvedOptions } from './options.ts';
import { traceDecodeEvent } from './step-trace.ts';
import type { DecodeEvent, StepKind, V2StepKind } from './session.ts';
import { DecodeEngine } from './engine.ts';
import { resolveModelOptions } from './v2-options.ts';
import { V2Decode } from './v2-routine.ts';

/** What a finished decode reports. */
export interface DecodeResult {
  /** Each row's whole generated region (genLength ids, EOS included, masks where undecided). */
  tokens: number[][];
  nfe: number;
  /** Positions unmasked per forward, averaged over rows. */
  tokensPerForward: number;
  /** Generated tokens (up to each row's first EOS, EOS and padding excluded) per second of wall time. */
  tokensPerSecond: number;
  generatedTokens: number;
  wallMs: number;
  /** Fast-dLLM v2: each row's forwards, as many as it makes alone (`nfe` counts the batch's shared calls). */
  rowNfe?: number[];
  /** Time per step by kind: refresh (full) vs cached steps. */
  timeByKind: Partial<Record<StepKind | V2StepKind, { ms: number; count: number }>>;
  options: ResolvedOptions;
}

export type DecodeStreamEvent = DecodeEvent | { type: 'done'; result: DecodeResult };

/** Decided ids of a row up to its first mask or EOS (the text that can no longer change). */
export function committedIds(canvas: readonly number[], eos: number, maskId: number): number[] {
  const out: number[] = [];
  for (const t of canvas) {
    if (t === maskId || t === eos) break;
    out.push(t);
  }
  return out;
}

/** Tokens of a row up to its first EOS (exclusive), masks excluded. */
export function countGenerated(tokens: number[], eos: number, maskId: number): number {
  let n = 0;
  for (const t of tokens) {
    if (t === eos) break;
    if (t !== maskId) n++;
  }
  return n;
}

/**
 * Decodes a batch of token-id prompts, yielding every step's decisions and finally the result.
 * Options are validated before any work.
 */
export function* decodeIds(model: LoadedModel, prompts: number[][], options: GenerateOptions): Generator<DecodeStreamEvent> {
  const cfg = model.config, lengths = prompts.map((p) => p.length);
  // Fast-dLLM v2 models decode block by block (v2-routine.ts); each family refuses the other's options.
  const opts = resolveModelOptions(options, cfg, lengths);
  const t0 = performance.now();
  const sess = opts.v2 ? new V2Decode(model, prompts, opts) : new EngineDecode(model, prompts, opts);
  try {
    for (const ev of sess.run()) {
      traceDecodeEvent(ev); // FASTDLLM_DEBUG=6
      yield ev;
    }
  } finally {
    sess.dispose();
  }
  const wallMs = performance.now() - t0;
  const tokens = prompts.map((_, b) => sess.generated(b));
  const decoded = tokens.reduce((s, row) => s + row.filter((t) => t !== opts.maskId).length, 0);
  const generatedTokens = tokens.reduce((s, row) => s + countGenerated(row, opts.eos, opts.maskId), 0);
  yield {
    type: 'done',
    result: {
      tokens, nfe: sess.nfe,
      ...(sess instanceof V2Decode ? { rowNfe: sess.rowNfe.slice() } : {}),
      tokensPerForward: sess.nfe ? decoded / prompts.length / sess.nfe : 0,
      tokensPerSecond: wallMs > 0 ? generatedTokens / (wallMs / 1000) : 0,
      generatedTokens, wallMs, timeByKind: sess.timeByKind, options: opts,
    },
  };
}

/**
 * A batch of prompts with one set of options on the continuous-batching engine, all rows
 * admitted at once (so they share every forward their routines allow). Events as the batched
 * routines always gave them: one step per forward, a block event once every row passed a block.
 */
class EngineDecode {
  private readonly engine: DecodeEngine<number>;
  private readonly rows;

  constructor(model: LoadedModel, prompts: number[][], opts: ResolvedOptions) {
    this.engine = new DecodeEngine<number>(model, opts);
    this.rows = prompts.map((p, i) => this.engine.add(p, opts, i, i, prompts.length > 1 ? `prompt ${i}` : 'prompt'));
  }

  get nfe(): number {
    return this.engine.nfe;
  }

  get timeByKind() {
    return this.engine.timeByKind;
  }

  *run(): Generator<DecodeEvent> {
    let blocks = 0;
    for (let st = this.engine.step(); st; st = this.engine.step()) {
      yield { type: 'step', kind: st.kind, nfe: st.nfe, block: st.block, rows: st.decisions, ms: st.ms };
      const live = this.rows.filter((r) => !r.finished);
      const passed = live.length ? Math.min(...live.map((r) => r.row.blocksDone)) : Math.max(...this.rows.map((r) => r.row.blocksDone));
      for (; blocks < passed; blocks++) yield { type: 'block', block: blocks, nfe: st.nfe };
    }
  }

  generated(b: number): number[] {
    return this.rows[b].row.generated();
  }

  dispose(): void {
    this.engine.dispose();
  }
}

/** Runs decodeIds to the end. */
export function decodeIdsToEnd(model: LoadedModel, prompts: number[][], options: GenerateOptions): DecodeResult {
  for (const ev of decodeIds(model, prompts, options)) if (ev.type === 'done') return ev.result;
  throw new Error('decode ended without a result');
}
