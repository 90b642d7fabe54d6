import { generate, loadModel } from '../../src/api.ts';
import { arithSplit } from '../../src/eval/arith-task.ts';
import { extractAnswer, isCorrect } from '../../src/eval/extract.ts';
const dir = process.argv[2]; const n = Number(process.argv[3] ?? 50);
const m = await loadModel(dir, { device: 'cpu' });
let ok = 0; const byOps = [0,0,0,0], totOps=[0,0,0,0];
for (const [i, p] of arithSplit('heldout', n).entries()) {
  const g = await generate(m, p.question, { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true });
  const good = isCorrect(extractAnswer(g.text[0]), p.target);
  const ops = p.answer.split('=').length - 1;
  totOps[ops]++; if (good) { ok++; byOps[ops]++; }
  if (i < 6) console.log(good ? 'OK ' : 'BAD', p.answer, '|', g.text[0]);
}
console.log(`accuracy ${ok}/${n}; by ops`, byOps.map((c, i) => `${i}:${c}/${totOps[i]}`).join(' '));
