import { isParallel } from './options.ts';
import { lladaPropose, selectProposals, type Proposal } from './pick.ts';
import { numTransferTokens } from './schedule.ts';
import type { DecodeEvent, DecodeSession, RowDecision, RowLogits, StepKind } from './session.ts';
import { LladaSelectStep } from './select-graph.ts';
import type { HeadDecisions } from '../runtime/forward.ts';
import type { HostTensor } from '../runtime/buffers.ts';

/**
 * LLaDA's three routines (REFERENCE.md section 4), block by block, left to right:
 *  none   — forward the whole canvas until the block has no mask;
 *  prefix — a refresh (full forward, keeps K/V of [0, s)), then forwards of [s, L) until done;
 *  dual   — a refresh (keeps every row's K/V), then up to S - 1 forwards of [s, e) whose fresh
 *           K/V replace the block's cache rows.
 * The refresh's selection considers every mask before e; cached steps only the block's.
 */
export function* lladaRoutine(sess: DecodeSession): Generator<DecodeEvent> {
  const o = sess.opts;
  const nBlocks = o.genLength / o.blockLength;
  const S = o.steps / nBlocks;
  const V = sess.model.config.vocabSize;
  const scratch = new Float64Array(V);
  const B = sess.batch;

  // Greedy decisions run as an IR graph (the step a device target runs too); sampling (Gumbel
  // noise, random remasking) draws from the host RNG and takes the TypeScript path.
  // On an executor whose fused head computes x0 and confidence (the GPU), the step takes those
  // and no logits are read back.
  const greedy = o.temperature === 0 && o.remasking === 'low_confidence';
  const fromDecisions = greedy && sess.headDecisions;
  // Where the executor keeps a canvas of its own (the GPU), the same rule (o.rule) runs there and
  // scatters into it; a step then reads back only its record.
  const onDevice = !!fromDecisions && sess.openDeviceStep(o.rule);
  const irStep = greedy && !onDevice ? LladaSelectStep.create(o, V, fromDecisions ? 'decisions' : 'logits') : undefined;

  /** `src`: the step's logits, or the forward's own decisions ([B, R'] row-major). */
  function selectWithIr(src: RowLogits | (HeadDecisions & { R: number }), cands: number[][], k: number[]): RowDecision[] {
    const R = Math.max(1, ...cands.map((c) => c.length)), L = sess.length;
    const pos = new Int32Array(B * R), cand = new Uint8Array(B * R);
    const lg = typeof src === 'function' ? new Float32Array(B * R * V) : undefined;
    const dx = typeof src === 'function' ? undefined : new Int32Array(B * R), dc = typeof src === 'function' ? undefined : new Float64Array(B * R);
    for (let b = 0; b < B; b++) {
      if (!sess.active[b]) continue;
      cands[b].forEach((p, i) => {
        pos[b * R + i] = p;
        cand[b * R + i] = 1;
        if (typeof src === 'function') lg!.set(src(b, i), (b * R + i) * V);
        else { dx![b * R + i] = src.x0[b * src.R + i]; dc![b * R + i] = src.confidence[b * src.R + i]; }
      });
    }
    const scores: Record<string, HostTensor> = lg ? { logits: { data: lg, shape: [B, R, V] } }
      : { x0: { data: dx!, shape: [B, R] }, confidence: { data: dc!, shape: [B, R] } };
    const out = irStep!.run({
      ...scores, positions: { data: pos, shape: [B, R] }, candidate: { data: cand, shape: [B, R] },
      canvas: { data: sess.x, shape: [B, L] }, k: { data: Int32Array.from(k), shape: [B] },
    });
    sess.x.set(out.canvas.data); // the graph's scatter is the canvas update
    const sel = out.selected.data, x0 = out.x0.data, conf = out.confidence.data;
    const rows: RowDecision[] = [];
    for (let b = 0; b < B; b++) {
      if (!sess.active[b] || cands[b].length === 0) continue;
      const idx = cands[b].map((_, i) => b * R + i).filter((j) => sel[j]);
      rows.push(sess.commit(b, idx.map((j) => pos[j]), idx.map((j) => x0[j]), idx.map((j) => conf[j])));
    }
    return rows;
  }

  /**
   * One forward of window [a, e) + selection; `cands[b]` are canvas positions, `k[b]` the
   * fixed-mode count, `blk` the block's [s, e) (where the device counts the masks left).
   */
  function* step(kind: StepKind, block: number, a: number, e: number, cands: number[][], k: number[], blk: [number, number]): Generator<DecodeEvent> {
    const t0 = performance.now();
    if (onDevice) {
      const rows = sess.deviceStep(kind, a, e, cands, k, blk);
      sess.updateEarlyExit();
      yield { type: 'step', kind, nfe: sess.nfe, block, rows, ms: performance.now() - t0 };
      return;
    }
    const want = cands.map((c) => c.map((p) => p - a));
    if (fromDecisions) {
      const rows = selectWithIr(sess.forwardDecisions(kind, a, e, want), cands, k);
      sess.updateEarlyExit();
      yield { type: 'step', kind, nfe: sess.nfe, block, rows, ms: performance.now() - t0 };
      return;
    }
    const logits = sess.forward(kind, a, e, want);
    const rows: RowDecision[] = irStep ? selectWithIr(logits, cands, k) : [];
    for (let b = 0; b < B && !irStep; b++) {
      if (!sess.active[b] || cands[b].length === 0) continue;
      const props: Proposal[] = cands[b].map((_, i) => lladaPropose(logits(b, i), o, sess.rngs[b], scratch));
      const chosen = selectProposals(props, o.rule, k[b]);
      rows.push(sess.commit(b, chosen.map((i) => cands[b][i]), chosen.map((i) => props[i].token), chosen.map((i) => props[i].confidence)));
    }
    sess.updateEarlyExit();
    yield { type: 'step', kind, nfe: sess.nfe, block, rows, ms: performance.now() - t0 };
  }

  const activeMasked = (a: number, e: number) => Array.from({ length: B }, (_, b) => (sess.active[b] ? sess.masked(b, a, e) : []));

  for (let nb = 0; nb < nBlocks; nb++) {
    if (!sess.active.some(Boolean)) break;
    const s = sess.promptLength + nb * o.blockLength, e = s + o.blockLength;
    const ntt = Array.from({ length: B }, (_, b) => numTransferTokens(sess.masked(b, s, e).length, S));
    const kAt = (j: number) => ntt.map((n) => (isParallel(o) ? 0 : n[j] ?? 0));
    const fixedDone = (j: number) => !isParallel(o) && j >= S;
    if (o.cache === 'none') {
      for (let j = 0; sess.anyMasked(s, e) && !fixedDone(j); j++) {
        yield* step('full', nb, 0, sess.length, activeMasked(0, e), kAt(j), [s, e]);
      }
    } else {
      if (sess.anyMasked(s, e)) {
        yield* step('full', nb, 0, sess.length, activeMasked(0, e), kAt(0), [s, e]);
      }
      if (o.cache === 'prefix') {
        for (let j = 1; sess.anyMasked(s, e) && !fixedDone(j); j++) {
          yield* step('prefix', nb, s, sess.length, activeMasked(s, e), kAt(j), [s, e]);
        }
      } else {
        for (let j = 1; j < S && sess.anyMasked(s, e); j++) {
          yield* step('dual', nb, s, e, activeMasked(s, e), kAt(j), [s, e]);
        }
      }
    }
    yield { type: 'block', block: nb, nfe: sess.nfe };
  }
}
