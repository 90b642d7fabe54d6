import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { badLine, readJsonLines, record } from '../jsonl.ts';
import { DEFAULT_MODEL_DIR, loadModel } from '../../api.ts';
import { arithSplit } from '../../eval/arith-task.ts';
import { thresholdChart } from '../../eval/chart.ts';
import { parseGsm8kTarget } from '../../eval/extract.ts';
import { buildGsm8kPrompt, type Gsm8kRecord } from '../../eval/gsm8k-prompt.ts';
import { formatTable, runEval, type EvalItem } from '../../eval/harness.ts';
import { DEFAULT_MODES, expandModes, MODE_NAMES, type ModeName } from '../../eval/modes.ts';
import { choiceFlag, DEVICE_FLAGS, DEVICE_HELP, intFlag, loadOptionsFromFlags, numFlag, parseFlags, UsageError } from '../args.ts';

const HELP = `usage: fastdllm eval [--model DIR] --task arith|gsm8k [--data FILE.jsonl] [--n N] [--shots K]
         [--modes ${MODE_NAMES.join(',')}] [--thresholds 0.5,0.7,0.9] [--factor F]
         [--gen-length N] [--block-length N] [--chat|--no-chat] [--json] [--out FILE.json] [--chart FILE.svg]
         [--device cpu|cuda|auto] [--precision f32|bf16] [--backend native|reference]

Scores each decoding mode on the task and prints the paper-style table (accuracy, tokens/s, nfe,
tokens per forward, speed-up over the first mode). --task arith uses the held-out split of the
built-in generator (default model: the embedded one, chat format); --task gsm8k reads GSM8K
records ({"question","answer":"... #### N"}), takes the first K as few-shot examples, and
extracts answers as lm-eval does.
${DEVICE_HELP}
`;

/** Draws a progress bar on stderr (one line per 10% when not a terminal). */
function progressBar(): (done: number, total: number, label: string) => void {
  let lastTenth = -1;
  return (done, total, label) => {
    if (process.stderr.isTTY) {
      const w = 30, f = Math.round((done / total) * w);
      process.stderr.write(`\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${done}/${total} ${label.padEnd(40).slice(0, 40)}`);
      if (done === total) process.stderr.write('\n');
    } else if (Math.floor((10 * done) / total) !== lastTenth) {
      lastTenth = Math.floor((10 * done) / total);
      process.stderr.write(`eval: ${done}/${total} (${label})\n`);
    }
  };
}

function readGsm8k(file: string): Gsm8kRecord[] {
  return readJsonLines(file, '--data', (v) => {
    const r = v as Partial<Gsm8kRecord>;
    return typeof r?.question === 'string' && typeof r.answer === 'string' ? record(r as Gsm8kRecord) : badLine('needs "question" and "answer" strings');
  });
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    model: { type: 'string' }, task: { type: 'string' }, data: { type: 'string' }, n: { type: 'string' }, shots: { type: 'string' },
    modes: { type: 'string' }, thresholds: { type: 'string' }, factor: { type: 'string' }, 'gen-length': { type: 'string' },
    'block-length': { type: 'string' }, chat: { type: 'boolean' }, 'no-chat': { type: 'boolean' }, json: { type: 'boolean' },
    out: { type: 'string' }, chart: { type: 'string' }, seed: { type: 'string' }, ...DEVICE_FLAGS, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) { process.stdout.write(HELP); return 0; }
  const task = choiceFlag(values.task ?? 'arith', '--task', ['arith', 'gsm8k'] as const)!;
  const n = intFlag(values.n, '--n', { min: 1 }) ?? 200;
  const modeNames = (values.modes?.split(',').map((s) => s.trim()) ?? DEFAULT_MODES) as ModeName[];
  for (const m of modeNames) if (!MODE_NAMES.includes(m)) throw new UsageError(`--modes: unknown mode ${JSON.stringify(m)} (one of ${MODE_NAMES.join(', ')})`);
  const thresholds = (values.thresholds ?? '0.9').split(',').map((s) => numFlag(s.trim(), '--thresholds')!);
  for (const t of thresholds) if (!(t > 0 && t <= 1)) throw new UsageError(`--thresholds: ${t} is outside (0, 1]`);
  const factor = numFlag(values.factor, '--factor') ?? 1;
  const genLength = intFlag(values['gen-length'], '--gen-length', { min: 1 }) ?? (task === 'arith' ? 64 : 256);
  const blockLength = intFlag(values['block-length'], '--block-length', { min: 1 }) ?? 32;

  let items: EvalItem[];
  if (task === 'arith') {
    items = arithSplit('heldout', n, intFlag(values.seed, '--seed')).map((p) => ({ prompt: p.question, target: p.target }));
  } else {
    if (!values.data) throw new UsageError('--task gsm8k needs --data FILE.jsonl');
    const recs = readGsm8k(values.data);
    const k = intFlag(values.shots, '--shots', { min: 0 }) ?? 5;
    if (recs.length <= k) throw new UsageError(`--data: ${values.data} has ${recs.length} records; need more than the ${k} few-shot examples`);
    const shots = recs.slice(0, k);
    items = recs.slice(k, k + n).map((r, i) => {
      const target = parseGsm8kTarget(r.answer);
      if (target === null) throw new UsageError(`--data: record ${k + i + 1} has no "#### N" answer`);
      return { prompt: buildGsm8kPrompt(r.question, shots, { cot: true }), target };
    });
  }
  // Output folders are made (and checked writable) before the run, so a long eval never ends
  // with its results unwritable.
  for (const [flag, f] of [['--out', values.out], ['--chart', values.chart]] as const) {
    if (!f) continue;
    try {
      mkdirSync(dirname(resolve(f)), { recursive: true });
      accessSync(dirname(resolve(f)), constants.W_OK);
    } catch (e) {
      throw new UsageError(`${flag}: cannot write ${f}: ${(e as Error).message}`);
    }
  }
  const chat = values['no-chat'] ? false : values.chat ?? (task === 'arith');
  const load = loadOptionsFromFlags(values);
  const model = await loadModel(values.model ?? DEFAULT_MODEL_DIR, load);
  if (load.device === 'auto' && !values.json) process.stderr.write(`device: ${model.host.device?.device} [${model.host.backend}] ${model.host.device?.reason}\n`);
  if (!model.tokenizer) throw new UsageError(`--model: ${model.dir} has no tokenizer.json; eval needs text`);
  const modes = expandModes(modeNames, thresholds, factor);
  const rows = await runEval(model, items, modes, { genLength, blockLength, chat, progress: progressBar() });
  const result = { task, n: items.length, rows };
  if (values.out) writeFileSync(values.out, JSON.stringify({ ...result, model: model.dir, genLength, blockLength }, null, 1) + '\n');
  if (values.chart) writeFileSync(values.chart, thresholdChart(rows, `${task}: accuracy and tokens per forward vs threshold (n = ${items.length})`));
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(formatTable(rows, items.length, task));
  return 0;
}
