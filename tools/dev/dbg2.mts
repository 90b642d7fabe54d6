import { loadHostModel } from '/work/main/src/runtime/model.ts';
import { forwardFull } from '/work/main/src/runtime/forward.ts';
import { dreamPropose } from '/work/main/src/decode/pick.ts';
import { resolveOptions } from '/work/main/src/decode/options.ts';
import { caseOptions } from '/work/main/test/helpers/case-options.ts';
import { loadCases, modelDir } from '/work/main/test/helpers/golden.ts';
import { Rng } from '/work/main/src/decode/rng.ts';
const c = loadCases('dream').find((x) => x.id === process.argv[2])!;
const m = await loadHostModel(modelDir(c.model), { backend: 'native' });
const o = resolveOptions(caseOptions(c), m.config, [c.prompt.length]);
const x = [...c.prompt, ...new Array(c.params.gen_length).fill(c.params.mask_id)];
const V = m.config.vocabSize;
for (let s = 0; s < 4; s++) {
  const lg = forwardFull(m, [x]).data as Float32Array;
  const props = [];
  for (let p = c.prompt.length; p < x.length; p++) if (x[p] === c.params.mask_id) {
    const pr = dreamPropose(lg.subarray((p - 1) * V, p * V), o, new Rng(0), new Float32Array(V));
    props.push({ p, ...pr });
  }
  props.sort((a, b) => b.confidence - a.confidence);
  console.log('step', s, props.slice(0, 6).map((q) => `${q.p}:${q.confidence.toFixed(4)}`).join(' '), 'exp', c.steps[s].pos);
  // apply the expected step's decisions using our tokens
  for (const p of c.steps[s].pos) x[p] = c.output[p];
}
