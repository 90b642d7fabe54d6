import type { SelectionRule } from '../ir/select-rule.ts';
import type { DeviceDecodeStep, LoadedModel } from '../runtime/loaded-model.ts';
import { runDeviceStep, runForward, runForwardDecisions, checkTokenIds, type ForwardCall, type HeadDecisions } from '../runtime/forward.ts';
import { debugLog } from '../env.ts';
import { KvCache } from '../runtime/kv-cache.ts';
import type { ResolvedOptions } from './options.ts';
import { Rng } from '../io/random.ts';

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
  | { type: 'block'; block: number; nfe: number };

/** Logits of the requested rows: rows(b)[i] is the logits vector of head row i of batch row b. */
export type RowLogits = (b: number, i: number) => Float32Array;

/**
 * The state of one batched decode: the canvas (prompts left-padded to a common length, then
 * genLength masks), per-row padding, the KV cache, metrics. Rows are independent: padded keys
 * are masked and positions are offset per row, so a row decodes what it decodes alone.
 */
export class DecodeSession {
  readonly batch: number;
  /** Longest prompt: generation starts at this canvas index for every row. */
  readonly promptLength: number;
  readonly length: number;
  readonly pad: number[];
  readonly x: Int32Array;
  readonly active: boolean[];
  readonly rngs: Rng[];
  nfe = 0;
  readonly timeByKind: Record<StepKind, { ms: number; count: number }> = { full: { ms: 0, count: 0 }, prefix: { ms: 0, count: 0 }, dual: { ms: 0, count: 0 } };
  private cache: KvCache | undefined;
  private cfgCache: KvCache | undefined;
  private device: DeviceDecodeStep | undefined;

  constructor(readonly model: LoadedModel, prompts: number[][], readonly opts: ResolvedOptions) {
    const cfg = model.config;
    prompts.forEach((p, i) => checkTokenIds(p, cfg.vocabSize, prompts.length > 1 ? `prompt ${i}` : 'prompt'));
    this.batch = prompts.length;
    this.promptLength = Math.max(...prompts.map((p) => p.length));
    this.length = this.promptLength + opts.genLength;
    this.pad = prompts.map((p) => this.promptLength - p.length);
    this.x = new Int32Array(this.batch * this.length).fill(opts.maskId);
    prompts.forEach((p, b) => {
      this.x.fill(cfg.padId, b * this.length, b * this.length + this.pad[b]);
      this.x.set(p, b * this.length + this.pad[b]);
    });
    this.active = prompts.map(() => true);
    this.rngs = prompts.map(() => new Rng(opts.seed));
  }

  tok(b: number, p: number): number {
    return this.x[b * this.length + p];
  }

  isMask(b: number, p: number): boolean {
    return this.x[b * this.length + p] === this.opts.maskId;
  }

  /** Masked positions of row b in [a, e). */
  masked(b: number, a: number, e: number): number[] {
    const out: number[] = [];
    for (let p = Math.max(a, this.promptLength); p < e; p++) if (this.isMask(b, p)) out.push(p);
    return out;
  }

  /** True when some active row has a mask in [a, e). */
  anyMasked(a: number, e: number): boolean {
    for (let b = 0; b < this.batch; b++) if (this.active[b] && this.masked(b, a, e).length) return true;
    return false;
  }

  /**
   * One model forward over the canvas window [a, e) (full: [0, L)), writing the window's K/V into
   * the cache at its own rows, attending to cache rows [0, L). `rows[b]` lists the window
   * offsets whose logits row b needs. With cfgScale > 0 (no cache) the prompt-masked canvas
   * goes through the same call and the guided logits are returned.
   */
  forward(kind: StepKind, a: number, e: number, rows: number[][]): RowLogits {
    const t0 = performance.now();
    const V = this.model.config.vocabSize, B = this.batch;
    const guided = this.opts.cfgScale > 0;
    const { call, cache, R } = this.buildCall(a, e, rows, guided);
    const out = runForward(this.model, call, cache).data as Float32Array;
    this.count(kind, t0);
    if (!guided) return (b, i) => out.subarray((b * R + i) * V, (b * R + i + 1) * V);
    const scale = Math.fround(this.opts.cfgScale + 1);
    return (b, i) => {
      const cond = out.subarray((b * R + i) * V, (b * R + i + 1) * V), un = out.subarray(((b + B) * R + i) * V, ((b + B) * R + i + 1) * V);
      const g = new Float32Array(V);
      for (let v = 0; v < V; v++) g[v] = un[v] + Math.fround(scale * Math.fround(cond[v] - un[v]));
      return g;
    };
  }

  /** Whether greedy steps can take x0 and confidence from the executor instead of logits (no cfg). */
  get headDecisions(): boolean {
    return !!this.model.executor.headDecisions && this.opts.cfgScale === 0;
  }

  /**
   * forward() for greedy steps on an executor that computes decisions next to the logits: the
   * argmax token and its probability of each requested row, [B, R] row-major, R = the longest.
   */
  forwardDecisions(kind: StepKind, a: number, e: number, rows: number[][]): HeadDecisions & { R: number } {
    const t0 = performance.now();
    const { call, cache, R } = this.buildCall(a, e, rows, false);
    const d = runForwardDecisions(this.model, call, cache);
    this.count(kind, t0);
    return { ...d, R };
  }

  /**
   * Starts greedy steps whose selection (by `rule`) runs on the device, over a canvas kept there
   * (see DeviceDecodeStep), when the executor offers them; false (and the host path) otherwise.
   */
  openDeviceStep(rule: SelectionRule): boolean {
    if (this.device) return true;
    const make = this.model.executor.deviceDecodeStep;
    if (!make || this.opts.cfgScale > 0) return false;
    const d = make.call(this.model.executor, rule, this.x, this.batch, this.opts.maskId);
    if (typeof d === 'string') {
      debugLog(1, `decode: selection on the host (${d})`);
      return false;
    }
    this.device = d;
    return true;
  }

  /**
   * One greedy step on the device (after openDeviceStep): forward of window [a, e) with head rows
   * `cands[b]` (canvas positions), selection and scatter there; the record's choices are applied
   * to this canvas too, which must then agree with the device on the masks left in [lo, hi).
   */
  deviceStep(kind: StepKind, a: number, e: number, cands: number[][], k: number[], [lo, hi]: [number, number]): RowDecision[] {
    const t0 = performance.now();
    const dev = this.device;
    if (!dev) throw new Error('deviceStep before openDeviceStep');
    const { call, cache, R } = this.buildCall(a, e, cands.map((c) => c.map((p) => p - a)), false);
    const cand = new Int32Array(this.batch * R).fill(-1);
    cands.forEach((c, b) => { if (this.active[b]) c.forEach((p, i) => { cand[b * R + i] = p; }); });
    const rec = runDeviceStep(dev, call, cache, cand, Int32Array.from(k), [lo, hi]);
    this.count(kind, t0);
    const rows: RowDecision[] = [];
    for (let b = 0; b < this.batch; b++) {
      const r = rec.rows[b];
      if (this.active[b] && cands[b].length) rows.push(this.commit(b, r.positions, r.tokens, r.confidences));
      else if (r.positions.length) throw new Error(`device step: row ${b} had no candidates but the device chose ${r.positions.length}`);
      const left = this.masked(b, lo, hi).length;
      if (rec.masksLeft[b] !== left) throw new Error(`device step: row ${b} has ${rec.masksLeft[b]} masks left in [${lo}, ${hi}) on the device, ${left} on the host`);
    }
    return rows;
  }

  /** Frees what the session holds on the device. */
  dispose(): void {
    this.device?.dispose();
    this.device = undefined;
  }

  private count(kind: StepKind, t0: number): void {
    this.nfe++;
    this.timeByKind[kind].ms += performance.now() - t0;
    this.timeByKind[kind].count++;
  }

  /** The forward call for window [a, e) and the head rows wanted per row (doubled for cfg). */
  private buildCall(a: number, e: number, rows: number[][], guided: boolean): { call: ForwardCall; cache: KvCache; R: number } {
    const L = this.length, B = this.batch, T = e - a;
    const nb = guided ? 2 * B : B;
    let R = Math.max(1, ...rows.map((r) => r.length));
    // A replaying executor (CUDA graphs) gets one head-row count per block, so every step of
    // the block is the same launch sequence; the extra rows repeat a wanted row.
    if (this.model.executor.replaysLaunches) R = R <= this.opts.blockLength ? Math.min(this.opts.blockLength, T) : T;
    const ids = new Int32Array(nb * T), pos = new Int32Array(nb * T), keyMask = new Uint8Array(nb * L), head = new Int32Array(nb * R);
    for (let r = 0; r < nb; r++) {
      const b = r % B;
      ids.set(this.x.subarray(b * L + a, b * L + e), r * T);
      if (r >= B) for (let p = this.pad[b]; p < this.promptLength; p++) if (p >= a && p < e) ids[r * T + p - a] = this.opts.maskId;
      for (let i = 0; i < T; i++) pos[r * T + i] = Math.max(0, a + i - this.pad[b]);
      keyMask.fill(1, r * L + this.pad[b], (r + 1) * L);
      const want = rows[b];
      for (let i = 0; i < R; i++) head[r * R + i] = want[i] ?? want[0] ?? 0;
    }
    let cache: KvCache;
    if (guided) cache = this.cfgCache ??= new KvCache(this.model.config, nb, L);
    else cache = this.cache ??= new KvCache(this.model.config, nb, L);
    return { call: { batch: nb, ids, positions: pos, start: a, keyMask, headRows: head }, cache, R };
  }

  /** Writes decided tokens and returns the row's record (positions relative to the generation). */
  commit(b: number, positions: number[], tokens: number[], confidences: number[]): RowDecision {
    positions.forEach((p, i) => { this.x[b * this.length + p] = tokens[i]; });
    return { row: b, positions: positions.map((p) => p - this.promptLength), tokens, confidences };
  }

  /** Early exit: deactivates rows whose text up to the first EOS is final. */
  updateEarlyExit(): void {
    if (!this.opts.earlyExit) return;
    for (let b = 0; b < this.batch; b++) {
      if (!this.active[b]) continue;
      for (let p = this.promptLength; p < this.length; p++) {
        if (this.isMask(b, p)) break;
        if (this.tok(b, p) === this.opts.eos) { this.active[b] = false; break; }
      }
    }
  }

  /** Row b's generated region. */
  generated(b: number): number[] {
    return Array.from(this.x.subarray(b * this.length + this.promptLength, (b + 1) * this.length));
  }
}
