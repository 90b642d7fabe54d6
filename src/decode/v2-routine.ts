import type { LoadedModel } from '../runtime/loaded-model.ts';
import { checkTokenIds, runForward } from '../runtime/forward.ts';
import { KvCache } from '../runtime/kv-cache.ts';
import { argmaxRow, softmaxRow } from '../runtime/reference/ops.ts';
import type { ResolvedOptions, V2Settings } from './options.ts';
import type { DecodeEvent, RowDecision, StepKind, V2StepKind } from './session.ts';
import { v2CanvasEnd } from './v2-options.ts';

/** Time and count of the forwards of each kind. */
type Timing = Partial<Record<StepKind | V2StepKind, { ms: number; count: number }>>;

/**
 * Fast-dLLM v2's block-diffusion decode (REFERENCE-V2.md), greedy. Each row is decoded on its
 * own, one after another, with its own KV cache: rows of a batch then give exactly what they
 * give alone (their block schedules, prefills and sub-block steps differ, and the state a forward
 * leaves in the cache is part of the semantics). `nfe` is the total of forwards over all rows.
 *
 * Cache rows are absolute positions. A forward of window [s, s + T) writes its K/V at rows
 * [s, s + T) (cache_write) and attends to rows [0, K) with K = the block end, so:
 * - the prompt prefill, run block by block, gives block k keys [0, (k + 1) * 32): the
 *   block-causal mask's visibility, with no attention option (counted as ONE forward, the
 *   reference's single prefill);
 * - a window forward leaves its K/V in the block's rows: that is the block cache, and a
 *   sub-block forward overwrites its own rows before attention, other rows as last written;
 * - the commit forward rewrites the block's rows with the final tokens' K/V.
 */
export class V2Decode {
  nfe = 0;
  readonly timeByKind: Timing = {};
  private readonly out: number[][];
  private readonly s: V2Settings;

  constructor(readonly model: LoadedModel, readonly prompts: number[][], readonly opts: ResolvedOptions) {
    if (!opts.v2) throw new Error('V2Decode needs options resolved for a Fast-dLLM v2 model (resolveV2Options)');
    this.s = opts.v2;
    prompts.forEach((p, i) => checkTokenIds(p, model.config.vocabSize, prompts.length > 1 ? `prompt ${i}` : 'prompt'));
    this.out = prompts.map(() => []);
  }

  /** Decodes every row in turn, yielding each forward's decisions and each finished block. */
  *run(): Generator<DecodeEvent> {
    for (let b = 0; b < this.prompts.length; b++) yield* this.decodeRow(b);
  }

  /** Row b's tokens after its prompt: generated blocks and the last AR token, or up to the finishing block. */
  generated(b: number): number[] {
    return this.out[b];
  }

  /** Nothing is held outside the JS heap. */
  dispose(): void {}

  private *decodeRow(row: number): Generator<DecodeEvent> {
    const { blockLength: BL, smallBlock: SB, blockCache, stopId, padId } = this.s;
    const o = this.opts, cfg = this.model.config, V = cfg.vocabSize;
    const prompt = this.prompts[row], Lp = prompt.length;
    const end = v2CanvasEnd(Lp, o.genLength, BL);
    const x = new Int32Array(end + 1).fill(o.maskId);
    x.set(prompt);
    const cache = new KvCache(cfg, 1, end);
    const probs = new Float32Array(V);
    const tau = o.rule.mode === 'threshold' ? o.rule.threshold : Math.fround(o.threshold ?? 0.9);
    /** One model forward of x[start, start + T), keys [0, K); logits of window rows `heads`. */
    const forward = (start: number, T: number, K: number, heads: number[]) => {
      const headRows = Int32Array.from(heads.length ? heads : [0]);
      const positions = new Int32Array(T).map((_, i) => start + i);
      const call = { batch: 1, ids: x.slice(start, start + T), positions, start, keyMask: new Uint8Array(K).fill(1), headRows };
      const logits = runForward(this.model, call, cache).data as Float32Array;
      return (i: number) => logits.subarray(i * V, (i + 1) * V);
    };
    const timed = (kind: V2StepKind, t0: number) => {
      this.nfe++;
      const t = (this.timeByKind[kind] ??= { ms: 0, count: 0 });
      t.ms += performance.now() - t0;
      t.count++;
    };
    const step = (kind: V2StepKind, block: number, t0: number, rows: RowDecision[]): DecodeEvent => {
      timed(kind, t0);
      return { type: 'step', kind, nfe: this.nfe, block, rows, ms: performance.now() - t0 };
    };

    // 1. Prefill of the whole blocks of the prompt, block by block (see the class comment).
    const firstBlock = Math.floor(Lp / BL);
    if (firstBlock > 0) {
      const t0 = performance.now();
      let last: (i: number) => Float32Array = () => new Float32Array(0);
      for (let k = 0; k < firstBlock; k++) last = forward(k * BL, BL, (k + 1) * BL, [BL - 1]);
      // The AR token: the raw last row (no shift, no threshold) continues a block-aligned prompt.
      if (Lp % BL === 0) x[Lp] = argmaxRow(last(0), 0, V);
      yield step('prefill', 0, t0, []);
    }

    const nBlocks = Math.floor(o.genLength / BL);
    let length = end + 1;
    for (let b = firstBlock; b < firstBlock + nBlocks; b++) {
      const a = b * BL, e = a + BL;
      let finished = false, haveBlockCache = false;
      for (let r = 0; r < BL / SB; r++) {
        const rs = a + r * SB, re = rs + SB;
        for (;;) {
          const cands: number[] = [];
          for (let p = rs; p < re; p++) if (x[p] === o.maskId) cands.push(p);
          if (cands.length === 0) break;
          const t0 = performance.now();
          // 3a. The window (and, with the block cache, a fresh block cache), or the sub-block alone.
          const whole = !blockCache || !haveBlockCache || x[rs] === o.maskId;
          const logits = whole ? forward(a, BL, e, cands.map((p) => Math.max(p - 1 - a, 0))) : forward(rs, SB, e, cands.map((p) => Math.max(p - 1 - rs, 0)));
          haveBlockCache = true;
          // 3b-c. Proposals; accept c > tau (strict, f32) plus the single most confident.
          const tokens: number[] = [], conf: number[] = [];
          let best = 0;
          cands.forEach((_, j) => {
            softmaxRow(logits(j), 0, V, probs, 'f32');
            tokens.push(argmaxRow(probs, 0, V));
            conf.push(probs[tokens[j]]);
            if (conf[j] > conf[best]) best = j;
          });
          const chosen = cands.map((_, j) => j).filter((j) => j === best || conf[j] > tau);
          for (const j of chosen) {
            x[cands[j]] = tokens[j];
            if (tokens[j] === stopId) finished = true;
          }
          const decision: RowDecision = { row, positions: chosen.map((j) => cands[j] - Lp), tokens: chosen.map((j) => tokens[j]), confidences: chosen.map((j) => conf[j]) };
          yield step(whole ? 'block' : 'sub', b - firstBlock, t0, [decision]);
        }
      }
      // 4. Block done: a finished row pads after its first stop and ends; else commit.
      if (finished) {
        let p = Lp;
        while (p < e && x[p] !== stopId) p++;
        x.fill(padId, p + 1, e);
        length = e;
        yield { type: 'block', block: b - firstBlock, nfe: this.nfe };
        break;
      }
      const t0 = performance.now();
      const logits = forward(a, BL, e, [BL - 1]);
      x[e] = argmaxRow(logits(0), 0, V);
      yield step('commit', b - firstBlock, t0, []);
      yield { type: 'block', block: b - firstBlock, nfe: this.nfe };
    }
    this.out[row] = Array.from(x.subarray(Lp, length));
  }
}
