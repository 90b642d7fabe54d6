import { describe, expect, it } from 'vitest';
import { CPU_ELEMENTWISE, CPU_KERNELS } from '../../src/codegen/cpu/render.ts';
import { CUDA_NODE_KERNELS } from '../../src/codegen/cuda/render-node.ts';
import { CUDA_ELEMENTWISE } from '../../src/codegen/cuda/small-kernels.ts';
import { GraphBuilder } from '../../src/ir/builder.ts';
import { ELEMENTWISE_ARITY, isLeaf, OP_KINDS, OP_RULES, OPERAND_CHECKS, type ComputeOp, type ElementwiseOp, type OpKind } from '../../src/ir/ops.ts';
import { GraphExecutor } from '../../src/runtime/executor.ts';
import { referenceBackend, REFERENCE_TABLES } from '../../src/runtime/reference/backend.ts';
import { EMULATED_ELEMENTWISE } from '../cuda/emulated-device.ts';

/**
 * Adding an op (README "Adding an op"): every per-op table is keyed by the op kind, so the type
 * checker lists each place a new op must go. The type-level half runs under `npx tsc --noEmit`
 * (the @ts-expect-error lines fail the type check if a table stops requiring an entry); the
 * run-time half checks that every table has exactly the ops it must.
 */

/** true when A and B are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const same = <A, B>(ok: Equal<A, B>) => ok;

// Each table's keys are exactly ComputeOp (or ElementwiseOp): no op left out, none extra.
same<keyof typeof OP_RULES, ComputeOp>(true);
same<keyof typeof OPERAND_CHECKS, ComputeOp>(true);
same<keyof typeof REFERENCE_TABLES.REFERENCE_KERNELS, ComputeOp>(true);
same<keyof typeof CPU_KERNELS, ComputeOp>(true);
same<keyof typeof CUDA_NODE_KERNELS, ComputeOp>(true);
same<keyof typeof REFERENCE_TABLES.REFERENCE_ELEMENTWISE, ElementwiseOp>(true);
same<keyof typeof CPU_ELEMENTWISE, ElementwiseOp>(true);
same<keyof typeof CUDA_ELEMENTWISE, ElementwiseOp>(true);
same<keyof typeof EMULATED_ELEMENTWISE, ElementwiseOp>(true);

/** The table without one entry (what forgetting an op looks like). */
function without<T extends object, K extends keyof T>(t: T, k: K): Omit<T, K> {
  const { [k]: _dropped, ...rest } = t;
  return rest;
}

// Forgetting 'gelu' in any table is a type error (each line below must stay an error).
// @ts-expect-error the validity rules need every op
export const noRule: typeof OP_RULES = without(OP_RULES, 'gelu');
// @ts-expect-error the operand checks need every op (null: nothing to check)
export const noCheck: typeof OPERAND_CHECKS = without(OPERAND_CHECKS, 'gelu');
// @ts-expect-error the reference needs every op
export const noRef: typeof REFERENCE_TABLES.REFERENCE_KERNELS = without(REFERENCE_TABLES.REFERENCE_KERNELS, 'gelu');
// @ts-expect-error the CPU renderer needs every op ('host' for the host ones)
export const noCpu: typeof CPU_KERNELS = without(CPU_KERNELS, 'gelu');
// @ts-expect-error the CUDA renderer needs every op ('host', 'gemm' or 'none' where it has no node kernel)
export const noCuda: typeof CUDA_NODE_KERNELS = without(CUDA_NODE_KERNELS, 'gelu');
// @ts-expect-error the emulated device needs every elementwise op
export const noEmulated: typeof EMULATED_ELEMENTWISE = without(EMULATED_ELEMENTWISE, 'gelu');

const LEAVES: OpKind[] = ['input', 'param', 'state'];
const COMPUTE = OP_KINDS.filter((k) => !LEAVES.includes(k)).sort();
const ELEMENTWISE = Object.keys(ELEMENTWISE_ARITY).sort();
const keys = (t: object) => Object.keys(t).sort();

describe('adding an op: the per-op tables', () => {
  it('OP_KINDS lists every op once, the leaves included', () => {
    expect(new Set(OP_KINDS).size).toBe(OP_KINDS.length);
    for (const l of LEAVES) expect(OP_KINDS).toContain(l);
    expect(OP_KINDS.filter(isLeaf).sort(), 'isLeaf').toEqual([...LEAVES].sort());
    expect(OP_KINDS).toContain('gelu');
  });

  it('every computed op has an entry in every per-op table', () => {
    const tables: [string, object][] = [
      ['OP_RULES', OP_RULES], ['OPERAND_CHECKS', OPERAND_CHECKS], ['REFERENCE_KERNELS', REFERENCE_TABLES.REFERENCE_KERNELS],
      ['CPU_KERNELS', CPU_KERNELS], ['CUDA_NODE_KERNELS', CUDA_NODE_KERNELS],
    ];
    for (const [name, t] of tables) expect(keys(t), name).toEqual(COMPUTE);
    const ew: [string, object][] = [
      ['REFERENCE_ELEMENTWISE', REFERENCE_TABLES.REFERENCE_ELEMENTWISE], ['CPU_ELEMENTWISE', CPU_ELEMENTWISE],
      ['CUDA_ELEMENTWISE', CUDA_ELEMENTWISE], ['EMULATED_ELEMENTWISE', EMULATED_ELEMENTWISE],
    ];
    for (const [name, t] of ew) expect(keys(t), name).toEqual(ELEMENTWISE);
  });

  it('the ops a target leaves to the host are the ones runtime/reference runs as host kernels', () => {
    const host = keys(REFERENCE_TABLES.HOST_KERNELS);
    const cpuHost = Object.entries(CPU_KERNELS).filter(([, r]) => r === 'host').map(([k]) => k).sort();
    expect(cpuHost).toEqual(host);
    const cudaHost = Object.entries(CUDA_NODE_KERNELS).filter(([, r]) => r === 'host').map(([k]) => k);
    for (const k of cudaHost) expect(host, k).toContain(k);
    // Every elementwise op has a real kernel on both targets.
    for (const k of ELEMENTWISE) {
      expect(typeof CPU_KERNELS[k as ComputeOp], `cpu ${k}`).toBe('function');
      expect(typeof CUDA_NODE_KERNELS[k as ComputeOp], `cuda ${k}`).toBe('function');
    }
  });

  it('gelu (the worked example) matches published values of the tanh approximation', async () => {
    const bad = new GraphBuilder();
    expect(() => bad.gelu(bad.input('i', 'i32', [4]))).toThrow(/gelu: x must be a float tensor/);
    const b = new GraphBuilder();
    b.output('y', b.gelu(b.input('x', 'f32', [4])));
    const ex = await GraphExecutor.create(b.build(), referenceBackend, () => { throw new Error('no weights'); });
    const y = ex.run({ x: { data: Float32Array.of(0, 1, -1, 2), shape: [4] } }).y.data;
    // torch.nn.functional.gelu(x, approximate='tanh') at 0, 1, -1, 2.
    const want = [0, 0.8411920070648193, -0.15880802273750305, 1.9545977115631104];
    want.forEach((w, i) => expect(Math.abs(y[i] - w), `gelu(${[0, 1, -1, 2][i]})`).toBeLessThan(1e-6));
  });
});
