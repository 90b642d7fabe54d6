import { dreamPropose, selectProposals, topk, type Proposal } from './pick.ts';
import { dreamTimesteps, dreamTransferCount } from './schedule.ts';
import type { StepKind } from './session.ts';
import type { DecodeRow, RowRoutine, RowStep, StepReply } from './row.ts';

/**
 * Dream's routines (REFERENCE.md section 5) for one row. Logits are shifted: the proposal for
 * canvas position p comes from window row p - 1 - a (the window's first position uses its own row).
 */
export function dreamRow(row: DecodeRow): RowRoutine {
  return row.opts.cache === 'none' ? dreamWhole(row) : dreamBlocks(row);
}

/**
 * A reply's proposals: from the logits on the host (dreamPropose), or from the executor's fused
 * head (argmax and 1 / sum exp(l - max)) where the engine asked for those, which it does only
 * when they are all the proposal needs (see headModeOf). The top probability is rounded as the
 * host's f32 softmax rounds it: f32(1 / f32(sum)).
 */
function proposals(row: DecodeRow, reply: StepReply, probs: Float32Array): (j: number) => Proposal {
  const d = reply.decisions;
  if (d) return (j) => ({ token: d.x0(j), confidence: Math.fround(1 / Math.fround(1 / d.confidence(j))) });
  return (j) => dreamPropose(reply.logits!(j), row.opts, row.rng, probs);
}

/** Head rows of a window starting at `a` for candidate positions (the shift). */
const shiftedRows = (cands: number[], a: number) => cands.map((p) => Math.max(p - 1 - a, 0));

/** No cache, no blocks: `steps` forwards of the whole canvas. */
function* dreamWhole(row: DecodeRow): RowRoutine {
  const o = row.opts, L = row.length, P = row.promptLength;
  const probs = new Float32Array(row.config.vocabSize);
  const t = dreamTimesteps(o.steps, o.eps);
  const thresholdAlg = o.alg === 'confidence_threshold';
  let quota = o.genLength / o.steps, carry = 0, stepsOf = o.steps;
  for (let i = 0; row.active && i < stepsOf; i++) {
    const cands = row.masked(P, L);
    const step: RowStep = { kind: 'full', block: 0, a: 0, e: L, heads: shiftedRows(cands, 0) };
    const propose = proposals(row, yield step, probs);
    const props = cands.map((_, j) => propose(j));
    let chosen: number[];
    if (thresholdAlg) {
      const cur = quota + carry;
      carry = 0;
      // The top `cur`, then the threshold rule among them: the first kept, the rest by f32 >=.
      const top = new Set(topk(props, cur));
      chosen = selectProposals(props.map((p, j) => (top.has(j) ? p : { ...p, confidence: -Infinity })), o.rule);
      // Positions the quota asked for but no candidate filled also count as dropped.
      const dropped = cur - chosen.length;
      carry += dropped;
      if (i === stepsOf - 1 && dropped > 0) { quota = 0; stepsOf += 1; }
    } else {
      const n = i < o.steps - 1 ? dreamTransferCount(cands.length, t, i) : cands.length;
      chosen = topk(props, n);
    }
    chosen.sort((x, y) => cands[x] - cands[y]);
    row.commit(chosen.map((j) => cands[j]), chosen.map((j) => props[j].token), chosen.map((j) => props[j].confidence));
    row.updateEarlyExit();
  }
  row.blocksDone = 1;
}

/** Prefix / dual cache: per block a refresh that decides position s alone, then cached steps. */
function* dreamBlocks(row: DecodeRow): RowRoutine {
  const o = row.opts, L = row.length;
  const probs = new Float32Array(row.config.vocabSize);
  const nBlocks = o.genLength / o.blockLength, S = o.steps / nBlocks;
  const t = dreamTimesteps(S, o.eps);
  const kind: StepKind = o.cache === 'prefix' ? 'prefix' : 'dual';
  for (let nb = 0; nb < nBlocks && row.active; nb++) {
    const s = row.promptLength + nb * o.blockLength, e = s + o.blockLength;
    const winEnd = kind === 'prefix' ? L : e;
    // Refresh: only row s - 1 of the head is needed (it predicts position s).
    const refresh = proposals(row, yield { kind: 'full', block: nb, a: 0, e: L, heads: [s - 1] }, probs);
    if (row.isMask(s)) {
      const p = refresh(0);
      row.commit([s], [p.token], [p.confidence]);
    }
    row.updateEarlyExit();
    for (let i = 1; row.active; ) {
      const cands = row.masked(s, e);
      const propose = proposals(row, yield { kind, block: nb, a: s, e: winEnd, heads: shiftedRows(cands, s) }, probs);
      if (o.alg !== 'confidence_threshold' && i === S) break;
      if (cands.length) {
        const props = cands.map((_, j) => propose(j));
        let chosen: number[];
        if (o.alg === 'confidence_threshold') chosen = selectProposals(props, o.rule);
        else chosen = topk(props, i === S - 1 ? cands.length : dreamTransferCount(cands.length, t, i));
        row.commit(chosen.map((j) => cands[j]), chosen.map((j) => props[j].token), chosen.map((j) => props[j].confidence));
      }
      if (o.alg !== 'confidence_threshold') i++;
      row.updateEarlyExit();
      if (!row.anyMasked(s, e)) break;
    }
    row.blocksDone = nb + 1;
  }
}
