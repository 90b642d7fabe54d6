import { decodeIds } from '/work/main/src/decode/generate.ts';
import { loadHostModel } from '/work/main/src/runtime/model.ts';
import { caseOptions } from '/work/main/test/helpers/case-options.ts';
import { loadCases, modelDir } from '/work/main/test/helpers/golden.ts';
const id = process.argv[2];
const c = loadCases('dream').find((x) => x.id === id)!;
const m = await loadHostModel(modelDir(c.model), { backend: 'native' });
let i = 0;
for (const ev of decodeIds(m, [c.prompt], caseOptions(c))) {
  if (ev.type === 'step') { const r = ev.rows[0]; console.log(i, 'ours', r?.positions.map((p) => p + c.prompt.length), r?.confidences.map((x) => x.toFixed(4)), 'exp', c.steps[i]?.pos); i++; }
  if (i > 6) break;
}
