/**
 * Times one dual-cache decode step (window 32, cache 288 rows, batch 1, 32 head rows) of a
 * 4-layer LLaDA-8B-width model in bf16 (random weights, full 126464-row vocabulary) with CUDA
 * events after warm-up, median of many, beside its two floors: the bytes the step must read
 * over measured copy bandwidth, and its FLOPs over the tensor rate (measured by PyTorch when
 * bench/device/torch_baseline.py ran first and its log is given, else the H100 datasheet).
 *   npx tsx bench/device/step-bench.ts [--out FILE.json] [--torch torch.log] [--reps N]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { hasCuda, probeCudaSync } from '../../src/runtime/cuda/device.ts';
import { runStepBench } from './step-bench-run.ts';

// The emulated-device smoke run of this bench (what --emulate was) is test/bench/step-bench.test.ts.
const { values } = parseArgs({ options: { out: { type: 'string' }, torch: { type: 'string' }, reps: { type: 'string' }, layers: { type: 'string' } } });
if (!hasCuda()) {
  console.error(`step-bench: no usable CUDA GPU: ${probeCudaSync().reason}`);
  process.exit(2);
}
const { report, lines } = await runStepBench({ layers: Number(values.layers ?? 4), reps: Number(values.reps ?? 50), torchLog: values.torch });
console.log(lines.join('\n'));
if (values.out) writeFileSync(values.out, JSON.stringify(report, null, 1));
