import { selectIndices, topkRule, type SelectionRule } from '../ir/select-rule.ts';
import { argmaxRow, softmaxRow } from '../runtime/reference/ops.ts';
import type { ResolvedOptions } from './options.ts';
import type { Rng } from '../io/random.ts';

const f = Math.fround;

/** A token proposal for one candidate position. */
export interface Proposal { token: number; confidence: number }

/**
 * LLaDA (REFERENCE.md section 3): x0 = argmax of the logits (Gumbel-max with temperature > 0,
 * noise in f64); confidence = softmax(logits)[x0] in f64, or a uniform draw with random remasking.
 */
export function lladaPropose(logits: Float32Array, o: ResolvedOptions, rng: Rng, scratch: Float64Array): Proposal {
  const V = logits.length;
  let token: number;
  if (o.temperature > 0) {
    // argmax exp(l) / (-log u)^t == argmax l - t log(-log u): same order, no overflow.
    let best = -Infinity;
    token = 0;
    for (let v = 0; v < V; v++) {
      const g = logits[v] - o.temperature * Math.log(-Math.log(rng.uniform()));
      if (g > best) { best = g; token = v; }
    }
  } else {
    token = argmaxRow(logits, 0, V);
  }
  if (o.remasking === 'random') return { token, confidence: rng.uniform() };
  softmaxRow(logits, 0, V, scratch, 'f64');
  return { token, confidence: scratch[token] };
}

/** Dream's logit filters (REFERENCE.md section 5), in place on an f32 copy. */
export function dreamFilter(logits: Float32Array, o: ResolvedOptions): Float32Array {
  const V = logits.length;
  const l = new Float32Array(logits);
  if (o.temperature > 0) for (let v = 0; v < V; v++) l[v] = f(l[v] / o.temperature);
  const MIN = -3.4028234663852886e38;
  if (o.topP < 1) {
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => l[b] - l[a] || a - b);
    const sorted = new Float32Array(order.map((i) => l[i]));
    const p = new Float32Array(V);
    softmaxRow(sorted, 0, V, p, 'f32');
    let cum = 0;
    const remove = new Uint8Array(V);
    for (let j = 0; j < V; j++) {
      if (j > 0 && cum > o.topP) remove[order[j]] = 1;
      cum = f(cum + p[j]);
    }
    for (let v = 0; v < V; v++) if (remove[v]) l[v] = MIN;
  }
  if (o.topK !== undefined) {
    const k = Math.min(o.topK, V);
    const kth = Float32Array.from(l).sort().reverse()[k - 1];
    for (let v = 0; v < V; v++) if (l[v] < kth) l[v] = MIN;
  }
  return l;
}

/**
 * Dream: probabilities in f32 after the filters; x0 = argmax of them (sampled with temperature);
 * confidence by alg: max prob, top1 - top2, or negative entropy.
 */
export function dreamPropose(logits: Float32Array, o: ResolvedOptions, rng: Rng, probs: Float32Array): Proposal {
  const V = logits.length;
  softmaxRow(dreamFilter(logits, o), 0, V, probs, 'f32');
  let token = argmaxRow(probs, 0, V);
  if (o.temperature > 0) {
    let u = rng.uniform(), acc = 0;
    let total = 0;
    for (let v = 0; v < V; v++) total += probs[v];
    u *= total;
    for (let v = 0; v < V; v++) { acc += probs[v]; if (u < acc) { token = v; break; } }
  }
  let confidence: number;
  if (o.alg === 'topk_margin') {
    let a = -Infinity, b = -Infinity;
    for (let v = 0; v < V; v++) { const p = probs[v]; if (p > a) { b = a; a = p; } else if (p > b) b = p; }
    confidence = f(a - b);
  } else if (o.alg === 'entropy') {
    let s = 0;
    for (let v = 0; v < V; v++) s += probs[v] * Math.log(f(probs[v] + 1e-10));
    confidence = f(s);
  } else {
    confidence = probs[token];
  }
  return { token, confidence };
}

/**
 * Indices of `props` (ascending) chosen by `rule` (ResolvedOptions.rule: the one selection rule,
 * ir/select-rule.ts); `k` is the top-k count.
 */
export function selectProposals(props: Proposal[], rule: SelectionRule, k = 0): number[] {
  return selectIndices(rule, props.map((p) => p.confidence), k);
}

/** The k most confident (ties to the lower index). */
export function topk(props: Proposal[], k: number): number[] {
  return selectProposals(props, topkRule(), k);
}
