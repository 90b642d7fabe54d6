// Prints the order in which the embedded model commits answer tokens (baseline decoding).
// Dev tool: npx tsx tools/dev/order.mts DIR "question"
import { generateStream, loadModel } from '../../src/api.ts';
const m = await loadModel(process.argv[2], { device: 'cpu' });
const tok = m.tokenizer!;
const out: string[] = [];
for await (const ev of generateStream(m, process.argv[3], { genLength: 64, blockLength: 32, steps: 64, cache: 'none', chat: true })) {
  if (ev.type !== 'step') continue;
  for (const r of ev.rows) r.positions.forEach((p, i) => { if (r.tokens[i] !== 2) out.push(`${p}:${tok.decode([r.tokens[i]])}(${r.confidences[i].toFixed(2)})`); });
}
console.log(out.join('  '));
