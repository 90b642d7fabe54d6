import type { DeviceDecodeStep, LoadedModel } from '../runtime/loaded-model.ts';
import { runDeviceStep, runForward, runForwardDecisions } from '../runtime/forward.ts';
import { giveKvArena, KvCache, takeKvArena, type KvArena } from '../runtime/kv-cache.ts';
import { debugLog } from '../env.ts';
import type { ResolvedOptions } from './options.ts';
import type { RowDecision, StepKind } from './session.ts';
import { DecodeRow, type RowRoutine, type RowStep, type StepReply } from './row.ts';
import { lladaRow } from './llada-routines.ts';
import { dreamRow } from './dream-routines.ts';
import { LladaSelectStep } from './select-graph.ts';
import { layoutCall, layoutCanvas, makeLayout, sameLayout, type Layout } from './engine-layout.ts';

/** Where a forward's decisions come from: host logits, the executor's fused head, or a device canvas. */
export type HeadMode = 'logits' | 'decisions' | 'device';

/** The head mode a row decodes with (what its routine did before there was an engine). */
export function headModeOf(model: LoadedModel, o: ResolvedOptions): HeadMode {
  const ex = model.executor;
  if (!ex.headDecisions || o.cfgScale > 0 || o.temperature !== 0) return 'logits';
  if (model.config.logitShift) return (o.alg === 'maskgit_plus' || o.alg === 'confidence_threshold') && o.topP >= 1 && o.topK === undefined ? 'decisions' : 'logits';
  if (o.remasking !== 'low_confidence') return 'logits';
  return ex.deviceDecodeStep ? 'device' : 'decisions';
}

/**
 * Rows with equal keys can share forwards: same cache mode and block length (their blocks start
 * together), same head mode, and on a device canvas the same selection rule (one per step).
 */
export function engineKey(model: LoadedModel, o: ResolvedOptions): string {
  const head = headModeOf(model, o);
  return `${o.cache}|${o.blockLength}|${head}${head === 'device' ? `|${JSON.stringify(o.rule)}` : ''}`;
}

/** A row in an engine, with what its owner attached. */
export interface EngineRow<T> {
  readonly row: DecodeRow;
  readonly tag: T;
  /** Engine forward count when the row took its first forward (-1: not started). */
  joinedAt: number;
  /** The routine ended: the row's generation is final. */
  finished: boolean;
  cancelled: boolean;
}

/** What one engine forward did. */
export interface EngineStep<T> {
  kind: StepKind;
  block: number;
  /** Engine forwards so far (this one included). */
  nfe: number;
  /** Rows that took part (their routines asked for this forward). */
  rows: EngineRow<T>[];
  decisions: RowDecision[];
  /** Rows whose routine ended after this forward. */
  finished: EngineRow<T>[];
  /** Its rows were admitted at different times (rows joined a running batch). */
  joined: boolean;
  ms: number;
}

interface Slot<T> extends EngineRow<T> {
  /** Admission order: layouts keep it, so an unchanged batch keeps its cache and device canvas. */
  seq: number;
  gen: RowRoutine;
  step: RowStep | undefined;
}

/**
 * Continuous batching over one shared forward. Each row runs its own routine (lladaRow /
 * dreamRow), a state machine that yields the forwards it would take alone; the engine runs the
 * requests of all rows as one batched forward. Rows join with cache 'none' at any step, and with
 * a cache at a block boundary shared by the batch, where every row's next forward is a full
 * refresh that rewrites the whole KV cache: the canvas is laid out afresh there (engine-layout.ts).
 * Rows move through blocks in lockstep; a row whose block ended early leaves the forward (its
 * K/V rows are dropped from the cache) until the others reach the boundary. Finished and
 * cancelled rows leave before the next forward. On a device canvas or a device-resident cache
 * (CUDA), rows that leave mid-block idle until the boundary instead (their K/V stay on the device).
 */
export class DecodeEngine<T> {
  nfe = 0;
  /** Forwards whose rows were admitted at different times (rows joined a running batch). */
  joinedForwards = 0;
  readonly timeByKind: Record<StepKind, { ms: number; count: number }> = { full: { ms: 0, count: 0 }, prefix: { ms: 0, count: 0 }, dual: { ms: 0, count: 0 } };
  private readonly waiting: Slot<T>[] = [];
  /** Rows at a block boundary waiting for the next layout (cached modes). */
  private readonly ready: Slot<T>[] = [];
  /** Rows in the current layout, in its order. */
  private cohort: Slot<T>[] = [];
  private layout: Layout | undefined;
  private cache: KvCache | undefined;
  private device: DeviceDecodeStep | undefined;
  private head: HeadMode;
  private readonly cached: boolean;
  private readonly compacts: boolean;
  private readonly selectSteps = new Map<string, LladaSelectStep>();
  /** Memory of this engine's successive caches (kv-cache.ts). */
  private readonly arena: KvArena;
  /** The layout is new: its first forward is everyone's refresh. */
  private fresh = false;
  private admitted = 0;

  constructor(readonly model: LoadedModel, readonly opts: ResolvedOptions) {
    this.head = headModeOf(model, opts);
    this.cached = opts.cache !== 'none';
    this.compacts = this.head !== 'device' && !model.backend.startsWith('cuda');
    this.arena = takeKvArena(model);
  }

  /** Rows waiting, at a boundary or decoding. */
  get size(): number {
    // A row at a block boundary is in `ready` and, where the cache is not compacted (CUDA), still in the cohort: count it once.
    return this.waiting.length + this.ready.length + this.cohort.filter((s) => !s.finished && !s.cancelled && !this.ready.includes(s)).length;
  }

  /** Queues a row; it starts at the engine's next join point. Options must have this engine's key. */
  add(prompt: number[], opts: ResolvedOptions, tag: T, index = 0, what = 'prompt'): EngineRow<T> {
    const row = new DecodeRow(index, prompt, opts, this.model.config, what);
    const gen = this.model.config.logitShift ? dreamRow(row) : lladaRow(row, (r, source) => this.selectStep(r.opts, source));
    const slot: Slot<T> = { seq: this.admitted++, row, tag, gen, step: undefined, joinedAt: -1, finished: false, cancelled: false };
    this.waiting.push(slot);
    return slot;
  }

  /** Drops a row before the next forward (a client that went away). */
  cancel(r: EngineRow<T>): void {
    r.cancelled = true;
  }

  /** Runs one forward of the rows that can take it; undefined when no row is left. */
  step(): EngineStep<T> | undefined {
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i].cancelled) this.waiting.splice(i, 1);
    for (let i = this.ready.length - 1; i >= 0; i--) if (this.ready[i].cancelled) this.ready.splice(i, 1);
    // Who leaves the current layout: finished, cancelled, and (cached) rows at a block boundary.
    const leaving = (s: Slot<T>) => s.finished || s.cancelled || !s.step || (this.cached && s.step.kind === 'full');
    if (!this.cached) {
      // Every forward is full: rows join at any step. A leaving row's compute stops at the next
      // layout, at once where the cache lives on the host, else when rows next join.
      const joiners = this.start(this.waiting.splice(0));
      const stay = this.cohort.filter((s) => !leaving(s));
      if (!stay.length && !joiners.length) { this.cohort = []; return undefined; }
      if (joiners.length || this.compacts) this.relayout([...stay, ...joiners]);
      return this.forward();
    }
    for (const s of this.cohort) if (!s.finished && !s.cancelled && s.step?.kind === 'full' && !this.ready.includes(s)) this.ready.push(s);
    if (this.cohort.length && this.cohort.every(leaving)) this.cohort = [];
    else if (this.compacts && this.cohort.some(leaving)) this.shrink(this.cohort.map((s) => !leaving(s)));
    if (!this.cohort.length) {
      // Everyone is at a block boundary: new rows join, and the canvas is laid out afresh.
      const next = [...this.ready.splice(0), ...this.start(this.waiting.splice(0))].sort((a, b) => a.seq - b.seq);
      if (!next.length) return undefined;
      this.relayout(next);
    }
    return this.forward();
  }

  /** Frees what the engine holds on the device; its cache memory goes to the model's next engine. */
  dispose(): void {
    this.device?.dispose();
    this.device = undefined;
    this.cache = undefined;
    giveKvArena(this.model, this.arena);
  }

  /** Asks new rows for their first forward; rows with none finish at once. */
  private start(slots: Slot<T>[]): Slot<T>[] {
    for (const s of slots) this.resume(s, {});
    return slots.filter((s) => !s.finished);
  }

  private resume(s: Slot<T>, reply: StepReply | Record<string, never>): void {
    const r = s.gen.next(reply as StepReply);
    s.step = r.done ? undefined : r.value;
    s.finished = !!r.done;
  }

  private relayout(slots: Slot<T>[]): void {
    const l = makeLayout(slots.map((s) => s.row), slots.map((s) => s.step!), this.cached, this.opts.blockLength);
    this.cohort = slots;
    this.fresh = true;
    if (sameLayout(this.layout, l)) return;
    this.layout = l;
    const guided = slots.filter((s) => s.row.opts.cfgScale > 0).length;
    if (!this.cache || this.cache.batch !== slots.length + guided || this.cache.capacity !== l.L) this.cache = new KvCache(this.model.config, slots.length + guided, l.L, this.arena);
    this.device?.dispose();
    this.device = undefined;
    if (this.head === 'device') {
      const d = this.model.executor.deviceDecodeStep!(this.opts.rule, layoutCanvas(l, this.model.config.padId), slots.length, this.opts.maskId);
      if (typeof d === 'string') {
        debugLog(1, `decode: selection on the host (${d})`);
        this.head = 'decisions';
      } else this.device = d;
    }
  }

  /** Keeps only the flagged rows of the layout and their K/V (host-resident caches). */
  private shrink(keep: boolean[]): void {
    const l = this.layout!;
    this.cache = this.cache!.compacted(keep);
    this.layout = { rows: l.rows.filter((_, b) => keep[b]), off: l.off.filter((_, b) => keep[b]), L: l.L };
    this.cohort = this.cohort.filter((_, b) => keep[b]);
  }

  private forward(): EngineStep<T> {
    const t0 = performance.now();
    const l = this.layout!, cfg = this.model.config;
    // Right after a layout every row takes the refresh; later, rows at a block boundary idle.
    const live = this.cohort.map((s) => (s.finished || s.cancelled || !s.step || (this.cached && !this.fresh && s.step.kind === 'full') ? undefined : s.step));
    this.fresh = false;
    const lead = live.findIndex(Boolean), st = live[lead]!;
    const A = st.kind === 'full' ? 0 : l.off[lead] + st.a, E = st.kind === 'dual' ? l.off[lead] + st.e : l.L;
    live.forEach((x, b) => {
      if (x && (x.kind !== st.kind || (x.kind !== 'full' && l.off[b] + x.a !== A))) throw new Error(`engine: row ${b} asks for a ${x.kind} forward at ${l.off[b] + x.a}, the batch for a ${st.kind} forward at ${A}`);
    });
    let R = Math.max(1, ...live.map((x) => x?.heads.length ?? 0));
    // A replaying executor (CUDA graphs) gets one head-row count per block, so every step of
    // the block is the same launch sequence; the extra rows repeat a wanted row.
    if (this.model.executor.replaysLaunches) R = R <= this.opts.blockLength ? Math.min(this.opts.blockLength, E - A) : E - A;
    const guided = this.cohort.map((s) => s.row.opts.cfgScale > 0);
    const call = layoutCall(l, live, guided, A, E, R, cfg.padId, this.opts.maskId);
    this.cohort.forEach((s) => { s.row.decision = undefined; });
    const replies = this.run(call, live, guided, R);
    this.nfe++;
    const rows: EngineRow<T>[] = [], decisions: RowDecision[] = [], finished: EngineRow<T>[] = [];
    const joined = new Set<number>();
    this.cohort.forEach((s, b) => {
      if (!live[b]) return;
      if (s.joinedAt < 0) s.joinedAt = this.nfe - 1;
      joined.add(s.joinedAt);
      s.row.nfe++;
      rows.push(s);
      this.resume(s, replies[b]!);
      if (s.row.decision) decisions.push(s.row.decision);
      if (s.finished) finished.push(s);
    });
    if (joined.size > 1) this.joinedForwards++;
    const ms = performance.now() - t0;
    this.timeByKind[st.kind].ms += ms;
    this.timeByKind[st.kind].count++;
    return { kind: st.kind, block: st.block, nfe: this.nfe, rows, decisions, finished, joined: joined.size > 1, ms };
  }

  /** Runs the call; per layout row, what its routine gets back. */
  private run(call: ReturnType<typeof layoutCall>, live: (RowStep | undefined)[], guided: boolean[], R: number): (StepReply | undefined)[] {
    const B = this.cohort.length, V = this.model.config.vocabSize, l = this.layout!;
    if (this.device) {
      const cand = new Int32Array(B * R).fill(-1);
      live.forEach((x, b) => x?.pick?.cands.forEach((p, i) => { cand[b * R + i] = l.off[b] + p; }));
      const rec = runDeviceStep(this.device, call, this.cache!, cand, Int32Array.from(live, (x) => x?.pick?.k ?? 0), [0, l.L]);
      return this.cohort.map((s, b) => {
        const r = rec.rows[b];
        let reply: StepReply | undefined;
        if (live[b]) reply = { decided: s.row.commit(r.positions.map((p) => p - l.off[b]), r.tokens, r.confidences) };
        else if (r.positions.length) throw new Error(`device step: row ${b} had no candidates but the device chose ${r.positions.length}`);
        const left = s.row.masked(0, s.row.length).length;
        if (rec.masksLeft[b] !== left) throw new Error(`device step: row ${b} has ${rec.masksLeft[b]} masks left on the device, ${left} on the host`);
        return reply;
      });
    }
    if (this.head === 'decisions') {
      const d = runForwardDecisions(this.model, call, this.cache!);
      return live.map((x, b) => x && { decisions: { x0: (i) => d.x0[b * R + i], confidence: (i) => d.confidence[b * R + i] } });
    }
    // Read before the next forward (the routines consume their replies at once): reused memory.
    const out = runForward(this.model, call, this.cache!, true).data as Float32Array;
    const twin = new Map<number, number>();
    guided.forEach((g, b) => { if (g) twin.set(b, B + twin.size); });
    const at = (r: number, i: number) => out.subarray((r * R + i) * V, (r * R + i + 1) * V);
    return live.map((x, b) => {
      if (!x) return undefined;
      const u = twin.get(b);
      if (u === undefined) return { logits: (i: number) => at(b, i), logitRows: (n: number) => out.subarray(b * R * V, (b * R + n) * V) };
      const scale = Math.fround(this.cohort[b].row.opts.cfgScale + 1);
      return {
        logits: (i: number) => {
          const cond = at(b, i), un = at(u, i), g = new Float32Array(V);
          for (let v = 0; v < V; v++) g[v] = un[v] + Math.fround(scale * Math.fround(cond[v] - un[v]));
          return g;
        },
      };
    });
  }

  private selectStep(o: ResolvedOptions, source: 'logits' | 'decisions'): LladaSelectStep {
    const key = `${JSON.stringify(o.rule)}|${source}`;
    let s = this.selectSteps.get(key);
    if (!s) this.selectSteps.set(key, (s = LladaSelectStep.create(o, this.model.config.vocabSize, source)));
    return s;
  }
}
