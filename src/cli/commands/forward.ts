import { loadModelOn } from '../../runtime/model.ts';
import { forwardFull } from '../../runtime/forward.ts';
import { DEVICE_FLAGS, DEVICE_HELP, idsFlag, loadOptionsFromFlags, parseFlags, UsageError } from '../args.ts';

const HELP = `usage: fastdllm forward --model DIR --ids 1,2,3 [--json] [--device cpu|cuda|auto] [--precision f32|bf16] [--backend native|reference]
Runs one full forward pass (every position attends to every other) and prints the raw logits
of every input position (Dream's shift NOT applied).
${DEVICE_HELP}
`;

export async function forwardCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, ids: { type: 'string' }, json: { type: 'boolean' }, ...DEVICE_FLAGS, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  if (!values.model) throw new UsageError('--model DIR is required');
  if (!values.ids) throw new UsageError('--ids 1,2,3 is required');
  const ids = idsFlag(values.ids, '--ids');
  const load = loadOptionsFromFlags(values);
  const model = await loadModelOn(values.model, load);
  if (load.device === 'auto') process.stderr.write(`device: ${model.device?.device} [${model.backend}] ${model.device?.reason}\n`);
  const out = forwardFull(model, [ids]);
  const [, T, V] = out.shape;
  if (values.json) {
    process.stdout.write(`{"shape":[${T},${V}],"logits":[${Array.from(out.data).join(',')}]}\n`);
  } else {
    for (let t = 0; t < T; t++) {
      const row = out.data.subarray(t * V, (t + 1) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
      process.stdout.write(`pos ${t} id ${ids[t]}: argmax ${best} (${row[best].toFixed(4)}), first ${Array.from(row.subarray(0, 4)).map((x) => x.toFixed(4)).join(' ')} ...\n`);
    }
  }
  return 0;
}
