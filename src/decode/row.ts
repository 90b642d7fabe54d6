import { checkTokenIds } from '../runtime/forward.ts';
import type { DecoderConfig } from '../models/define.ts';
import { Rng } from '../io/random.ts';
import type { ResolvedOptions } from './options.ts';
import type { RowDecision, StepKind } from './session.ts';

/**
 * What a row's routine asks of the next forward, in the row's own canvas coordinates (its
 * prompt at [0, P), its generation at [P, P + genLength)). The engine lays rows out on a shared
 * canvas and runs the requests of many rows as one forward.
 */
export interface RowStep {
  kind: StepKind;
  /** The row's block (for traces). */
  block: number;
  /** Window [a, e) of the row's canvas; a full step is [0, length). */
  a: number;
  e: number;
  /** Window offsets whose logits (or head decisions) the row needs. */
  heads: number[];
  /**
   * LLaDA's greedy pick (candidate canvas positions, top-k count): where the engine keeps a
   * canvas on the device, the selection runs there and the reply says what was decided.
   */
  pick?: { cands: number[]; k: number };
}

/** What one forward gives back to one row. */
export interface StepReply {
  /** Logits of head i (guidance applied). */
  logits?: (i: number) => Float32Array;
  /** Logits of heads [0, n) as one [n, vocab] view, where they lie contiguous (no guidance): no copy. */
  logitRows?: (n: number) => Float32Array;
  /** The executor's fused-head argmax and its probability for head i. */
  decisions?: { x0: (i: number) => number; confidence: (i: number) => number };
  /** Decided (and committed to this row) by the device step. */
  decided?: RowDecision;
}

/** A row's routine: yields its forwards, receives their replies, ends when the row is done. */
export type RowRoutine = Generator<RowStep, void, StepReply>;

/**
 * One request's decode state: its own canvas (prompt, then genLength masks), RNG, early-exit
 * flag and forward count. Nothing here depends on which other rows share its forwards, which is
 * why a row decodes the same alone or in any batch.
 */
export class DecodeRow {
  readonly promptLength: number;
  readonly length: number;
  readonly x: Int32Array;
  readonly rng: Rng;
  active = true;
  /** Forwards this row took part in (its solo nfe). */
  nfe = 0;
  /** Blocks the routine has finished. */
  blocksDone = 0;
  /** What the last forward decided for this row (taken by the engine). */
  decision: RowDecision | undefined;

  constructor(readonly index: number, prompt: number[], readonly opts: ResolvedOptions, readonly config: DecoderConfig, what = 'prompt') {
    checkTokenIds(prompt, config.vocabSize, what);
    this.promptLength = prompt.length;
    this.length = prompt.length + opts.genLength;
    this.x = new Int32Array(this.length).fill(opts.maskId);
    this.x.set(prompt);
    this.rng = new Rng(opts.seed);
  }

  isMask(p: number): boolean {
    return this.x[p] === this.opts.maskId;
  }

  /** Masked positions in [a, e) (only the generated region has masks). */
  masked(a: number, e: number): number[] {
    const out: number[] = [];
    for (let p = Math.max(a, this.promptLength); p < e; p++) if (this.isMask(p)) out.push(p);
    return out;
  }

  /** True when the row is active and has a mask in [a, e). */
  anyMasked(a: number, e: number): boolean {
    return this.active && this.masked(a, e).length > 0;
  }

  /** Writes decided tokens and records them as this forward's decision (positions relative to the generation). */
  commit(positions: number[], tokens: number[], confidences: number[]): RowDecision {
    positions.forEach((p, i) => { this.x[p] = tokens[i]; });
    this.decision = { row: this.index, positions: positions.map((p) => p - this.promptLength), tokens, confidences };
    return this.decision;
  }

  /** Early exit: the row stops once its text up to the first EOS is final. */
  updateEarlyExit(): void {
    if (!this.opts.earlyExit || !this.active) return;
    for (let p = this.promptLength; p < this.length; p++) {
      if (this.isMask(p)) break;
      if (this.x[p] === this.opts.eos) { this.active = false; break; }
    }
  }

  /** The generated region (masks where undecided). */
  generated(): number[] {
    return Array.from(this.x.subarray(this.promptLength));
  }
}
