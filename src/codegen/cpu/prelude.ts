import { templateText } from '../templates.ts';

/**
 * The C++ every generated CPU module starts with, in include order: headers and vector helpers,
 * the GEMMs (over weights in HF [out, in] layout, and over weights packed once at load into
 * 16-column panels), attention's score tiles, elementwise helpers, and the other ops' kernels.
 * The bodies are real files under templates/cpu, read the way the CUDA templates are.
 */
export const CPU_TEMPLATES = ['cpu/fd_cpu_common.h', 'cpu/fd_cpu_gemm.h', 'cpu/fd_cpu_attention.h', 'cpu/fd_cpu_elementwise.h', 'cpu/fd_cpu_kernels.h'] as const;

let prelude: string | undefined;

/**
 * The templates' text, concatenated: read on the first call, then kept for the process, so that
 * importing the code generator reads no file (codegen stays pure until it renders).
 */
export function cpuPrelude(): string {
  prelude ??= CPU_TEMPLATES.map((f) => `// ---- ${f}\n${templateText(f)}`).join('\n');
  return prelude;
}
