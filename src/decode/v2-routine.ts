import type { LoadedModel } from '../runtime/loaded-model.ts';
import { checkTokenIds } from '../runtime/forward.ts';
import { argmaxRow, softmaxRow } from '../runtime/reference/ops.ts';
import type { ResolvedOptions, V2Settings } from './options.ts';
import type { DecodeEvent, FinalTokens, RowDecision, StepKind, V2StepKind } from './session.ts';
import { V2Canvas } from './v2-canvas.ts';
import { v2Rule } from './v2-options.ts';
import { selectIndices, type SelectionRule } from '../ir/select-rule.ts';
import { bf16BitsToF32, f32ToBf16Bits } from '../util/half.ts';

/** Time and count of the forwards of each kind. */
type Timing = Partial<Record<StepKind | V2StepKind, { ms: number; count: number }>>;

/**
 * Fast-dLLM v2's block-diffusion decode (REFERENCE-V2.md), greedy, for a batch whose rows
 * decode together and each exactly as alone.
 *
 * Rows are aligned by whole blocks on one canvas (V2Canvas): their current blocks share canvas
 * positions, so each forward is ONE call for every row. Cache rows are canvas positions; a
 * forward of [s, s + T) writes its K/V at rows [s, s + T) and attends to rows [0, K), K = the
 * block end, so:
 * - the prompt prefill, run block by block, gives block k keys [0, (k + 1) * 32): the
 *   block-causal mask's visibility, with no attention option (counted as ONE forward, the
 *   reference's single prefill);
 * - a window forward leaves its K/V in the block's rows: that is the block cache, and a
 *   sub-block forward overwrites its own rows before attention, other rows as last written;
 * - the commit forward rewrites the block's rows with the final tokens' K/V.
 *
 * Rows advance block by block together. Inside a block, a row steps its first sub-block with
 * masks; a row that has nothing to do in a call still runs in it (the batch is one tensor), and
 * the order of calls makes that harmless: a window forward does not read the window's previous
 * K/V, so only a row about to take a sub-block step (block cache) has state a call could spoil.
 * Hence, with the block cache, rows go sub-block by sub-block together and sub-block steps come
 * first: while a row at the lowest pending sub-block needs one, one sub call serves all such
 * rows (the others' next forward is a window or the commit); otherwise one window call serves
 * every row that needs a window. Without the block cache every step is a window call of all
 * stepping rows. Commits wait for the block's last step and are one call. A row's own forwards
 * are then those it makes alone, in the same order, on the same state: `rowNfe` counts them;
 * `nfe` counts the calls (for one row, the same).
 */
export class V2Decode {
  /** Forward calls made (shared by the rows). */
  nfe = 0;
  /** Forwards of each row: what it makes alone. */
  readonly rowNfe: number[];
  readonly timeByKind: Timing = {};
  private readonly s: V2Settings;
  /** The dtype of the reference's probabilities: bf16 on a bf16 model (cuda-bf16), else f32. */
  private readonly dtype: 'f32' | 'bf16';
  /** v2's acceptance rule (strict, in `dtype`), made once from the options. */
  private readonly rule: SelectionRule;
  /** One row's probabilities, reused by every decision (a vocabulary-sized buffer). */
  private readonly probs: Float32Array;
  private readonly c: V2Canvas;
  private readonly ended: boolean[];
  private readonly outEnd: number[];
  /** Canvas index of each row's first token not yet reported final. */
  private readonly finalFrom: number[];

  constructor(readonly model: LoadedModel, readonly prompts: number[][], readonly opts: ResolvedOptions) {
    if (!opts.v2) throw new Error('V2Decode needs options resolved for a Fast-dLLM v2 model (resolveV2Options)');
    this.s = opts.v2;
    this.dtype = model.backend === 'cuda-bf16' ? 'bf16' : 'f32';
    this.rule = v2Rule(this.opts, this.dtype);
    this.probs = new Float32Array(model.config.vocabSize);
    prompts.forEach((p, i) => checkTokenIds(p, model.config.vocabSize, prompts.length > 1 ? `prompt ${i}` : 'prompt'));
    this.c = new V2Canvas(model, prompts, this.s.blockLength, Math.floor(opts.genLength / this.s.blockLength), opts.maskId, this.s.padId);
    this.rowNfe = prompts.map(() => 0);
    this.ended = prompts.map(() => false);
    this.outEnd = prompts.map(() => this.c.length);
    this.finalFrom = prompts.map((_, b) => this.c.genStart(b));
  }

  /** Decodes the batch, yielding each forward's decisions and each finished block's final tokens. */
  *run(): Generator<DecodeEvent> {
    const { blockLength: BL, smallBlock: SB, blockCache, stopId, padId } = this.s;
    const c = this.c, V = this.model.config.vocabSize, mask = this.opts.maskId;
    const all = this.prompts.map((_, b) => b);

    // 1. Prefill of the whole blocks of the prompts, block by block (see the class comment).
    if (c.F > 0) {
      const t0 = performance.now();
      // Every row's last prompt block is canvas block F - 1: the last call's head is its last row.
      let last = c.forward(0, BL, BL, all.map(() => [BL - 1]));
      for (let k = 1; k < c.F; k++) last = c.forward(k * BL, BL, (k + 1) * BL, all.map(() => [BL - 1]));
      for (const b of all) {
        const lp = this.prompts[b].length;
        if (lp < BL) continue;
        this.rowNfe[b]++;
        // The AR token: the raw last row (no shift, no threshold) continues a block-aligned prompt.
        if (lp % BL === 0) c.set(b, c.genStart(b), argmaxRow(last(b, 0), 0, V));
      }
      yield this.step('prefill', 0, t0, []);
    }

    const nBlocks = Math.floor(this.opts.genLength / BL);
    for (let j = 0; j < nBlocks; j++) {
      const a = (c.F + j) * BL, e = a + BL;
      const live = all.filter((b) => !this.ended[b]);
      if (!live.length) break;
      const finished = new Set<number>(), haveBlockCache = new Set<number>();
      /** Row b's current sub-block: the first with masks, or -1. */
      const current = (b: number) => {
        for (let r = 0; r < BL / SB; r++) for (let p = a + r * SB; p < a + (r + 1) * SB; p++) if (c.tok(b, p) === mask) return r;
        return -1;
      };
      for (;;) {
        const cur = new Map<number, number>();
        for (const b of live) { const r = current(b); if (r >= 0) cur.set(b, r); }
        if (!cur.size) break;
        // 3a. Who steps now and with which forward (see the class comment).
        let stepping = [...cur.keys()], sub = false, subStart = a;
        if (blockCache) {
          const low = Math.min(...cur.values());
          subStart = a + low * SB;
          const atLow = stepping.filter((b) => cur.get(b) === low);
          const needSub = atLow.filter((b) => haveBlockCache.has(b) && c.tok(b, subStart) !== mask);
          sub = needSub.length > 0;
          stepping = sub ? needSub : atLow;
          for (const b of live) {
            const r = cur.get(b);
            if (r === undefined || stepping.includes(b)) continue;
            // Guard of the argument above: a bystander must not be a row about to take a sub step.
            if (haveBlockCache.has(b) && c.tok(b, a + r * SB) !== mask) throw new Error(`v2 batch: row ${b} would lose its block cache to a call of other rows (internal error)`);
          }
        }
        const cands: number[][] = [], heads: (number[] | undefined)[] = all.map(() => undefined);
        for (const b of stepping) {
          const rs = a + cur.get(b)! * SB, origin = sub ? subStart : a;
          const cs: number[] = [];
          for (let p = rs; p < rs + SB; p++) if (c.tok(b, p) === mask) cs.push(p);
          cands[b] = cs;
          heads[b] = cs.map((p) => Math.max(p - 1 - origin, 0));
        }
        const t0 = performance.now();
        const logits = sub ? c.forward(subStart, SB, e, heads) : c.forward(a, BL, e, heads);
        if (!sub) for (const b of stepping) haveBlockCache.add(b);
        const rows = stepping.map((b) => this.decide(b, cands[b], (i) => logits(b, i), finished));
        yield this.step(sub ? 'sub' : 'block', j, t0, rows, stepping);
      }
      // 4. Block done: a finished row pads after its first stop and ends; the others commit.
      const final: FinalTokens[] = [];
      const commit = live.filter((b) => !finished.has(b));
      for (const b of live) {
        if (!finished.has(b)) continue;
        let p = c.genStart(b);
        while (p < e && c.tok(b, p) !== stopId) p++;
        for (let q = p + 1; q < e; q++) c.set(b, q, padId);
        this.ended[b] = true;
        this.outEnd[b] = e;
      }
      if (commit.length) {
        const t0 = performance.now();
        const heads: (number[] | undefined)[] = all.map((b) => (commit.includes(b) ? [BL - 1] : undefined));
        const logits = c.forward(a, BL, e, heads);
        for (const b of commit) c.set(b, e, argmaxRow(logits(b, 0), 0, V));
        yield this.step('commit', j, t0, [], commit);
      }
      for (const b of live) {
        const end = this.ended[b] ? e : e + 1;
        final.push({ row: b, tokens: c.slice(b, this.finalFrom[b], end) });
        this.finalFrom[b] = end;
      }
      yield { type: 'block', block: j, nfe: this.nfe, final };
    }
  }

  /** Row b's tokens after its prompt: generated blocks and the last AR token, or up to the finishing block. */
  generated(b: number): number[] {
    return this.c.slice(b, this.c.genStart(b), this.outEnd[b]);
  }

  /** Nothing is held outside the JS heap. */
  dispose(): void {}

  /** 3b-c. Proposals of row b's candidates; accepts c > tau plus the single most confident; writes them. */
  private decide(b: number, cands: number[], logits: (i: number) => Float32Array, finished: Set<number>): RowDecision {
    const V = this.model.config.vocabSize, probs = this.probs;
    const tokens: number[] = [], conf: number[] = [];
    cands.forEach((_, j) => {
      softmaxRow(logits(j), 0, V, probs, 'f32');
      // In bf16 the reference's p is bf16: argmax (first on ties) and c are taken after rounding.
      if (this.dtype === 'bf16') for (let v = 0; v < V; v++) probs[v] = bf16BitsToF32(f32ToBf16Bits(probs[v]));
      tokens.push(argmaxRow(probs, 0, V));
      conf.push(probs[tokens[j]]);
    });
    const chosen = selectIndices(this.rule, conf);
    for (const j of chosen) {
      this.c.set(b, cands[j], tokens[j]);
      if (tokens[j] === this.s.stopId) finished.add(b);
    }
    const g = this.c.genStart(b);
    return { row: b, positions: chosen.map((j) => cands[j] - g), tokens: chosen.map((j) => tokens[j]), confidences: chosen.map((j) => conf[j]) };
  }

  /** Counts one call (and one forward of each row in `rows`) and makes its step event. */
  private step(kind: V2StepKind, block: number, t0: number, decisions: RowDecision[], rows: number[] = []): DecodeEvent {
    this.nfe++;
    for (const b of rows) this.rowNfe[b]++;
    const ms = performance.now() - t0;
    const t = (this.timeByKind[kind] ??= { ms: 0, count: 0 });
    t.ms += ms;
    t.count++;
    return { type: 'step', kind, nfe: this.nfe, block, rows: decisions, ms };
  }
}
