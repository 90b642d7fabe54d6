// Dev helper: runs golden cases whose id contains every argv filter; prints failures.
import { checkCase } from '/work/main/test/decode/check-case.ts';
import { loadCases } from '/work/main/test/helpers/golden.ts';
const filters = process.argv.slice(2);
let n = 0, bad = 0;
for (const fam of ['llada', 'dream'] as const) for (const c of loadCases(fam)) {
  if (!filters.every((f) => c.id.includes(f))) continue;
  n++;
  const d = await checkCase(c);
  if (d.length) { bad++; if (bad <= 3) console.log(c.id, d.join('\n  ').slice(0, 1500)); }
}
console.log(`${n - bad} passed, ${bad} failed`);
