import { dreamPropose, selectProposals, topk, type Proposal } from './pick.ts';
import { dreamTimesteps, dreamTransferCount } from './schedule.ts';
import type { DecodeEvent, DecodeSession, RowDecision, StepKind } from './session.ts';

/**
 * Dream's routines (REFERENCE.md section 5). Logits are shifted: the proposal for canvas
 * position p comes from window row p - 1 - a (the window's first position uses its own row).
 */
export function* dreamRoutine(sess: DecodeSession): Generator<DecodeEvent> {
  if (sess.opts.cache === 'none') yield* dreamWhole(sess);
  else yield* dreamBlocks(sess);
}

/** Proposals of one forward, by batch row and head row. */
type Proposals = (b: number, j: number) => Proposal;

/**
 * A forward and its proposals. From the logits on the host (dreamPropose), or, where the
 * executor's fused head already computes the argmax and 1 / sum exp(l - max) (the GPU), from
 * those, when they are all the proposal needs: greedy, maskgit_plus or confidence_threshold
 * (confidence = the top probability), no top-p / top-k filter. The logits then stay on the
 * device (at Dream-7B's vocabulary, 152,064 x 4 B per head row not read back). The top
 * probability is rounded as the host's f32 softmax rounds it: f32(1 / f32(sum)).
 */
function forwarder(sess: DecodeSession): (kind: StepKind, a: number, e: number, rows: number[][]) => Proposals {
  const o = sess.opts;
  const probs = new Float32Array(sess.model.config.vocabSize);
  const fromHead = sess.headDecisions && o.temperature === 0 && (o.alg === 'maskgit_plus' || o.alg === 'confidence_threshold') && o.topP >= 1 && o.topK === undefined;
  if (fromHead) {
    return (kind, a, e, rows) => {
      const d = sess.forwardDecisions(kind, a, e, rows);
      return (b, j) => ({ token: d.x0[b * d.R + j], confidence: Math.fround(1 / Math.fround(1 / d.confidence[b * d.R + j])) });
    };
  }
  return (kind, a, e, rows) => {
    const logits = sess.forward(kind, a, e, rows);
    return (b, j) => dreamPropose(logits(b, j), o, sess.rngs[b], probs);
  };
}

/** Head rows of a window starting at `a` for candidate positions (the shift). */
const shiftedRows = (cands: number[], a: number) => cands.map((p) => Math.max(p - 1 - a, 0));

/** No cache, no blocks: `steps` forwards of the whole canvas. */
function* dreamWhole(sess: DecodeSession): Generator<DecodeEvent> {
  const o = sess.opts, B = sess.batch, L = sess.length, P = sess.promptLength;
  const forward = forwarder(sess);
  const t = dreamTimesteps(o.steps, o.eps);
  const thresholdAlg = o.alg === 'confidence_threshold';
  const quota = new Array<number>(B).fill(o.genLength / o.steps), carry = new Array<number>(B).fill(0);
  const stepsOf = new Array<number>(B).fill(o.steps);
  for (let i = 0; ; i++) {
    const live = Array.from({ length: B }, (_, b) => sess.active[b] && i < stepsOf[b]);
    if (!live.some(Boolean)) break;
    const t0 = performance.now();
    const cands = Array.from({ length: B }, (_, b) => (live[b] ? sess.masked(b, P, L) : []));
    const proposals = forward('full', 0, L, cands.map((c) => shiftedRows(c, 0)));
    const rows: RowDecision[] = [];
    for (let b = 0; b < B; b++) {
      if (!live[b]) continue;
      const props = cands[b].map((_, j) => proposals(b, j));
      let chosen: number[];
      if (thresholdAlg) {
        const cur = quota[b] + carry[b];
        carry[b] = 0;
        // The top `cur`, then the threshold rule among them: the first kept, the rest by f32 >=.
        const top = new Set(topk(props, cur));
        chosen = selectProposals(props.map((p, j) => (top.has(j) ? p : { ...p, confidence: -Infinity })), o.rule);
        // Positions the quota asked for but no candidate filled also count as dropped.
        const dropped = cur - chosen.length;
        carry[b] += dropped;
        if (i === stepsOf[b] - 1 && dropped > 0) { quota[b] = 0; stepsOf[b] += 1; }
      } else {
        const n = i < o.steps - 1 ? dreamTransferCount(cands[b].length, t, i) : cands[b].length;
        chosen = topk(props, n);
      }
      chosen.sort((x, y) => cands[b][x] - cands[b][y]);
      rows.push(sess.commit(b, chosen.map((j) => cands[b][j]), chosen.map((j) => props[j].token), chosen.map((j) => props[j].confidence)));
    }
    sess.updateEarlyExit();
    yield { type: 'step', kind: 'full', nfe: sess.nfe, block: 0, rows, ms: performance.now() - t0 };
  }
  yield { type: 'block', block: 0, nfe: sess.nfe };
}

/** Prefix / dual cache: per block a refresh that decides position s alone, then cached steps. */
function* dreamBlocks(sess: DecodeSession): Generator<DecodeEvent> {
  const o = sess.opts, B = sess.batch, L = sess.length;
  const forward = forwarder(sess);
  const nBlocks = o.genLength / o.blockLength, S = o.steps / nBlocks;
  const t = dreamTimesteps(S, o.eps);
  const kind: StepKind = o.cache === 'prefix' ? 'prefix' : 'dual';
  for (let nb = 0; nb < nBlocks; nb++) {
    if (!sess.active.some(Boolean)) break;
    const s = sess.promptLength + nb * o.blockLength, e = s + o.blockLength;
    const winEnd = kind === 'prefix' ? L : e;
    // Refresh: only row s - 1 of the head is needed (it predicts position s).
    let t0 = performance.now();
    const live = sess.active.slice();
    const refresh = forward('full', 0, L, live.map(() => [s - 1]));
    const rrows: RowDecision[] = [];
    for (let b = 0; b < B; b++) {
      if (!live[b] || !sess.isMask(b, s)) continue;
      const p = refresh(b, 0);
      rrows.push(sess.commit(b, [s], [p.token], [p.confidence]));
    }
    sess.updateEarlyExit();
    yield { type: 'step', kind: 'full', nfe: sess.nfe, block: nb, rows: rrows, ms: performance.now() - t0 };
    for (let i = 1; ; ) {
      if (!sess.active.some(Boolean)) break;
      t0 = performance.now();
      const cands = Array.from({ length: B }, (_, b) => (sess.active[b] ? sess.masked(b, s, e) : []));
      const proposals = forward(kind, s, winEnd, cands.map((c) => shiftedRows(c, s)));
      if (o.alg !== 'confidence_threshold' && i === S) {
        yield { type: 'step', kind, nfe: sess.nfe, block: nb, rows: [], ms: performance.now() - t0 };
        break;
      }
      const rows: RowDecision[] = [];
      for (let b = 0; b < B; b++) {
        if (cands[b].length === 0) continue;
        const props = cands[b].map((_, j) => proposals(b, j));
        let chosen: number[];
        if (o.alg === 'confidence_threshold') chosen = selectProposals(props, o.rule);
        else chosen = topk(props, i === S - 1 ? cands[b].length : dreamTransferCount(cands[b].length, t, i));
        rows.push(sess.commit(b, chosen.map((j) => cands[b][j]), chosen.map((j) => props[j].token), chosen.map((j) => props[j].confidence)));
      }
      if (o.alg !== 'confidence_threshold') i++;
      sess.updateEarlyExit();
      yield { type: 'step', kind, nfe: sess.nfe, block: nb, rows, ms: performance.now() - t0 };
      if (!sess.anyMasked(s, e)) break;
    }
    yield { type: 'block', block: nb, nfe: sess.nfe };
  }
}
