// Classifies the embedded model's mistakes on held-out problems: wrong arithmetic in an equation
// vs wrong operands (copy / chain errors). Dev tool: npx tsx tools/dev/errors.mts DIR [N]
import { generate, loadModel } from '../../src/api.ts';
import { arithSplit } from '../../src/eval/arith-task.ts';
const dir = process.argv[2]; const n = Number(process.argv[3] ?? 100);
const m = await loadModel(dir, { device: 'cpu' });
let eqs = 0, arithBad = 0, opBad = 0, ok = 0;
for (const p of arithSplit('heldout', n)) {
  const g = await generate(m, p.question, { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true });
  const want = [...p.answer.matchAll(/(\d+) ([+\-*]) (\d+) = (\d+)\./g)];
  const got = [...g.text[0].matchAll(/(\d+) ([+\-*]) (\d+) = (\d+)\./g)];
  if (g.text[0].trim() === p.answer.trim()) ok++;
  got.forEach((e, i) => {
    eqs++;
    const [a, op, b, r] = [Number(e[1]), e[2], Number(e[3]), Number(e[4])];
    const v = op === '+' ? a + b : op === '-' ? a - b : a * b;
    if (v !== r) arithBad++;
    const w = want[i];
    if (w) {
      const same = (w[1] === e[1] && w[3] === e[3]) || (w[2] !== '-' && w[1] === e[3] && w[3] === e[1]);
      if (!same || w[2] !== op) opBad++;
    }
  });
}
console.log(`${n} problems, exact text ${ok}; ${eqs} equations: wrong result ${arithBad} (${(100 * arithBad / eqs).toFixed(0)}%), wrong operands/op ${opBad} (${(100 * opBad / eqs).toFixed(0)}%)`);
