import { generate, loadModel } from '../../src/api.ts';
import { arithSplit } from '../../src/eval/arith-task.ts';
const m = await loadModel('/tmp/snap', { device: 'cpu' });
let shown = 0;
for (const p of arithSplit('heldout', 60)) {
  if (p.answer.split('=').length - 1 < 2) continue;
  const g = await generate(m, p.question, { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true });
  console.log('Q:', p.question, '\n  want:', p.answer, '\n  got: ', g.text[0]);
  if (++shown >= 6) break;
}
