import { planCuda } from '../../codegen/cuda/plan.ts';
import { GPU_SPECS, perfModel, type GpuName, type PerfShape } from '../../codegen/cuda/perf-model.ts';
import type { CudaPrecision, HeadOutputs } from '../../codegen/cuda/types.ts';
import { graphFromConfig } from '../../runtime/config-graph.ts';
import { decodeStepKernels } from '../../runtime/cuda/inspect.ts';

/** What `inspect --perf` was asked for (flags already checked by inspect.ts). */
export interface PerfInspectRequest {
  path: string;
  hasWeight?: (name: string) => boolean;
  gpu: GpuName;
  precision: CudaPrecision;
  headOutputs: HeadOutputs;
  shape: PerfShape;
  json?: boolean;
}

const us = (x: number) => x.toFixed(1);
const mb = (x: number) => (x / 1e6).toFixed(2);

/**
 * `fastdllm inspect --perf --gpu NAME`: the performance model (codegen/cuda/perf-model.ts) of a
 * decode step planned for that GPU's SM count. Needs no GPU and no compiler. JSON: every launch
 * in order; the table: distinct kernels with their launch counts.
 */
export function inspectPerf(req: PerfInspectRequest): number {
  const spec = GPU_SPECS[req.gpu];
  const { graph, config } = graphFromConfig(req.path, {}, req.hasWeight);
  const plan = planCuda(graph, { precision: req.precision, headOutputs: req.headOutputs, sms: spec.sms });
  const r = perfModel(plan, decodeStepKernels(plan, !config.logitShift), req.gpu, req.shape);
  const constants = { sms: spec.sms, bandwidthGBs: spec.bandwidthGBs, tensorTflops: spec.tensorTflops, simtTflops: spec.simtTflops, launchUs: spec.launchUs, source: spec.source };
  if (req.json) {
    process.stdout.write(JSON.stringify({ gpu: r.gpu, shape: req.shape, precision: req.precision, constants, kernels: r.kernels, step: r.step }) + '\n');
    return 0;
  }
  const rows = new Map<string, { k: (typeof r.kernels)[number]; n: number }>();
  for (const k of r.kernels) { const e = rows.get(k.name); if (e) e.n++; else rows.set(k.name, { k, n: 1 }); }
  const s = r.step;
  const lines = [
    `${config.architecture}: ${config.nLayers} layers, ${req.precision}, predicted on ${spec.label} (${spec.sms} SMs, ${spec.bandwidthGBs} GB/s, ${spec.tensorTflops} TFLOP/s bf16 tensor, ${spec.simtTflops} f32, ${spec.launchUs} us per launch; data-sheet peaks: measured rates are lower)`,
    `decode step: batch ${req.shape.batch}, window ${req.shape.window}, cache ${req.shape.cacheLen}; ${s.launches} launches`,
    `${'kernel'.padEnd(72)} ${'launches'.padStart(8)} ${'MB each'.padStart(9)} ${'GFLOP'.padStart(7)} ${'CTAs'.padStart(6)} ${'waves'.padStart(6)} ${'us each'.padStart(8)}`,
    ...[...rows.values()].map(({ k, n }) => `${k.name.padEnd(72)} ${String(n).padStart(8)} ${mb(k.bytes).padStart(9)} ${(k.flops / 1e9).toFixed(2).padStart(7)} ${String(k.ctas).padStart(6)} ${k.waves.toFixed(2).padStart(6)} ${us(k.predictedUs).padStart(8)}`),
    `step: ${mb(s.bytes)} MB moved (${(s.bytes / s.minBytes).toFixed(3)}x the ${mb(s.minBytes)} MB minimum; ${mb(s.tileBytes)} MB counting L2 re-reads), ${(s.flops / 1e9).toFixed(1)} GFLOP`,
    `predicted ${us(s.predictedUs)} us; floor ${us(s.floorUs)} us (${(s.predictedUs / s.floorUs).toFixed(2)}x)`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
