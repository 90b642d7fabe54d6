import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { moduleSource } from '../../src/codegen/cuda/module.ts';
import { COPY_MODES } from '../../src/codegen/cuda/small-kernels.ts';
import { planStepKernels } from '../../src/codegen/cuda/step-kernels.ts';
import { templateDefines } from '../../src/codegen/cuda/template-constants.ts';
import { TEMPLATE_DIR } from '../../src/codegen/templates.ts';
import { GraphBuilder } from '../../src/ir/builder.ts';
import { SELECT_MODES } from '../../src/ir/select-rule.ts';

/**
 * The numbers the templates share with TypeScript come from one table each and reach the CUDA
 * source as generated #defines; the templates spell none of them out.
 */
describe('shared template constants', () => {
  it('define every table entry, in every module, before the template bodies', () => {
    const defs = templateDefines();
    const want = [
      ...Object.entries(SELECT_MODES).map(([k, v]) => `#define FD_SELECT_${k.toUpperCase()} ${v}`),
      ...Object.entries(COPY_MODES).map(([k, v]) => `#define FD_COPY_${k.toUpperCase()} ${v}`),
    ];
    expect(defs.trim().split('\n')).toEqual(want);
    for (const [prefix, table] of [['FD_SELECT_', SELECT_MODES], ['FD_COPY_', COPY_MODES]] as const) {
      expect(new Set(Object.values(table)).size, `${prefix} numbers are distinct`).toBe(Object.keys(table).length);
    }
    const b = new GraphBuilder();
    b.output('ids', b.input('ids', 'i32', ['B', 'T']));
    b.output('rows', b.input('headRows', 'i32', ['B', 'R']));
    const sel = planStepKernels(b.build()).find((k) => k.name === 'select_scatter')!;
    const src = moduleSource(sel);
    expect(src).toContain(defs);
    expect(src.indexOf(defs)).toBeLessThan(src.indexOf('// ---- fd_decode.cuh'));
  });

  it('the templates use the generated names, never the numbers', () => {
    const decode = readFileSync(join(TEMPLATE_DIR, 'fd_decode.cuh'), 'utf8');
    const misc = readFileSync(join(TEMPLATE_DIR, 'fd_misc.cuh'), 'utf8');
    for (const name of ['FD_SELECT_TOPK', 'FD_SELECT_THRESHOLD', 'FD_SELECT_FACTOR']) expect(decode).toContain(name);
    expect(decode).not.toMatch(/mode\s*==\s*\d/);
    expect(decode).not.toMatch(/SELECT_\w+\s*=\s*\d/);
    for (const name of ['FD_COPY_GATHER', 'FD_COPY_SHIFT']) expect(misc).toContain(name);
    expect(misc).not.toMatch(/C::(OP|MODE)\s*==\s*\d/);
  });
});
