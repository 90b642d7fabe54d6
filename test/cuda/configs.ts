import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { graphFromConfig, configLabel } from '../../src/runtime/config-graph.ts';
import { planCuda } from '../../src/codegen/cuda/plan.ts';
import type { CudaKernel, CudaPrecision, HeadOutputs } from '../../src/codegen/cuda/types.ts';
import { FIXTURES } from '../helpers/golden.ts';

/** Every config the CUDA checks cover: the fixture models and the real LLaDA-8B / Dream-7B configs. */
export const CONFIG_FILES: string[] = [
  ...readdirSync(join(FIXTURES, 'models'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(FIXTURES, 'models', d.name, 'config.json')).sort(),
  ...readdirSync(join(FIXTURES, 'configs')).filter((f) => f.endsWith('.json')).map((f) => join(FIXTURES, 'configs', f)).sort(),
];

export const PRECISIONS: CudaPrecision[] = ['f32', 'bf16'];
export const HEAD_MODES: HeadOutputs[] = ['logits', 'x0conf', 'both'];

/** The kernels of every head mode of one config and precision (what any decode step may launch, the step's own included). */
export function configKernels(file: string, precision: CudaPrecision): CudaKernel[] {
  const { graph } = graphFromConfig(file);
  return HEAD_MODES.flatMap((headOutputs) => {
    const plan = planCuda(graph, { precision, headOutputs });
    return [...plan.kernels, ...plan.stepKernels];
  });
}

export { configLabel };
