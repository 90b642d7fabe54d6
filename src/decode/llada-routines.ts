import { isParallel } from './options.ts';
import { lladaPropose, selectProposals, type Proposal } from './pick.ts';
import { numTransferTokens } from './schedule.ts';
import type { StepKind } from './session.ts';
import { LladaSelectStep, type SelectSource } from './select-graph.ts';
import type { HostTensor } from '../runtime/buffers.ts';
import type { DecodeRow, RowRoutine, StepReply } from './row.ts';

/** Greedy selection steps built once per (rule, source) and shared by the rows of an engine. */
export type SelectSteps = (row: DecodeRow, source: SelectSource) => LladaSelectStep;

/**
 * LLaDA's three routines (REFERENCE.md section 4) for one row, block by block, left to right:
 *  none   — forward the whole canvas until the block has no mask;
 *  prefix — a refresh (full forward, keeps K/V of [0, s)), then forwards of [s, L) until done;
 *  dual   — a refresh (keeps every row's K/V), then up to S - 1 forwards of [s, e) whose fresh
 *           K/V replace the block's cache rows.
 * The refresh's selection considers every mask before e; cached steps only the block's.
 * Greedy decisions run as an IR graph (the step a device target runs too), or on the device
 * when the engine keeps the canvas there; sampling (Gumbel noise, random remasking) draws from
 * the row's RNG on the host.
 */
export function* lladaRow(row: DecodeRow, selectSteps: SelectSteps): RowRoutine {
  const o = row.opts;
  const nBlocks = o.genLength / o.blockLength;
  const S = o.steps / nBlocks;
  const greedy = o.temperature === 0 && o.remasking === 'low_confidence';
  const scratch = new Float64Array(row.config.vocabSize);
  // The row's selection graphs, looked up once per source (not once per step).
  const irSteps: Partial<Record<SelectSource, LladaSelectStep>> = {};

  /** One forward of window [a, e) + selection among `cands` (canvas positions), `k` the top-k count. */
  function* step(kind: StepKind, block: number, a: number, e: number, cands: number[], k: number): RowRoutine {
    const reply = yield { kind, block, a, e, heads: cands.map((p) => p - a), pick: { cands, k } };
    if (!reply.decided) {
      if (greedy) {
        const src: SelectSource = reply.logits ? 'logits' : 'decisions';
        selectWithIr(row, (irSteps[src] ??= selectSteps(row, src)), reply, cands, k);
      }
      else {
        const props: Proposal[] = cands.map((_, i) => lladaPropose(reply.logits!(i), o, row.rng, scratch));
        const chosen = selectProposals(props, o.rule, k);
        row.commit(chosen.map((i) => cands[i]), chosen.map((i) => props[i].token), chosen.map((i) => props[i].confidence));
      }
    }
    row.updateEarlyExit();
  }

  for (let nb = 0; nb < nBlocks && row.active; nb++) {
    const s = row.promptLength + nb * o.blockLength, e = s + o.blockLength;
    const ntt = numTransferTokens(row.masked(s, e).length, S);
    const kAt = (j: number) => (isParallel(o) ? 0 : ntt[j] ?? 0);
    const fixedDone = (j: number) => !isParallel(o) && j >= S;
    if (o.cache === 'none') {
      for (let j = 0; row.anyMasked(s, e) && !fixedDone(j); j++) yield* step('full', nb, 0, row.length, row.masked(0, e), kAt(j));
    } else {
      if (row.anyMasked(s, e)) yield* step('full', nb, 0, row.length, row.masked(0, e), kAt(0));
      if (o.cache === 'prefix') {
        for (let j = 1; row.anyMasked(s, e) && !fixedDone(j); j++) yield* step('prefix', nb, s, row.length, row.masked(s, e), kAt(j));
      } else {
        for (let j = 1; j < S && row.anyMasked(s, e); j++) yield* step('dual', nb, s, e, row.masked(s, e), kAt(j));
      }
    }
    row.blocksDone = nb + 1;
  }
}

/** The greedy step as the IR graph over this row: x0, confidence, selection, scatter into its canvas. */
function selectWithIr(row: DecodeRow, irStep: LladaSelectStep, reply: StepReply, cands: number[], k: number): void {
  const R = Math.max(1, cands.length), V = row.config.vocabSize;
  const pos = new Int32Array(R), cand = new Uint8Array(R);
  cands.forEach((p, i) => { pos[i] = p; cand[i] = 1; });
  let scores: Record<string, HostTensor>;
  if (reply.logits) {
    let lg: Float32Array;
    if (reply.logitRows && cands.length) lg = reply.logitRows(R);
    else {
      lg = new Float32Array(R * V);
      cands.forEach((_, i) => lg.set(reply.logits!(i), i * V));
    }
    scores = { logits: { data: lg, shape: [1, R, V] } };
  } else {
    const d = reply.decisions!;
    scores = {
      x0: { data: Int32Array.from({ length: R }, (_, i) => (i < cands.length ? d.x0(i) : 0)), shape: [1, R] },
      confidence: { data: Float64Array.from({ length: R }, (_, i) => (i < cands.length ? d.confidence(i) : 0)), shape: [1, R] },
    };
  }
  const out = irStep.run({
    ...scores, positions: { data: pos, shape: [1, R] }, candidate: { data: cand, shape: [1, R] },
    canvas: { data: row.x, shape: [1, row.length] }, k: { data: Int32Array.of(k), shape: [1] },
  });
  row.x.set(out.canvas.data); // the graph's scatter is the canvas update
  const sel = out.selected.data, x0 = out.x0.data, conf = out.confidence.data;
  const idx = cands.map((_, i) => i).filter((i) => sel[i]);
  row.commit(idx.map((i) => pos[i]), idx.map((i) => x0[i]), idx.map((i) => conf[i]));
}
