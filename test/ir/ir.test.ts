import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../src/ir/builder.ts';
import { IrValidationError } from '../../src/ir/ops.ts';
import { fuse } from '../../src/ir/passes/fuse.ts';
import { printGraph } from '../../src/ir/printer.ts';
import { buildForwardGraph } from '../../src/models/define.ts';
import { llada } from '../../src/models/llada.ts';
import { dream } from '../../src/models/dream.ts';
import { loadHfConfig } from '../../src/io/config.ts';
import { modelDir } from '../helpers/golden.ts';

const cfgOf = (name: string, def: typeof llada | typeof dream): any => def.fromHfConfig(loadHfConfig(modelDir(name)), `${name}/config.json`);

describe('IR', () => {
  it('validity rules refuse bad operands with the op named', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['B', 'T', 16]);
    expect(() => b.matmul(x, b.param('w', [8, 15]))).toThrow(/matmul: input width vs weight in-dim: 16 vs 15/);
    expect(() => b.rmsnorm(x, b.param('g', [3]), 1e-5)).toThrow(IrValidationError);
    expect(() => b.rope(x, b.input('p', 'f32', ['B', 'T']), 2, 8, 1e4)).toThrow(/rope: positions must be i32/);
    expect(() => b.attention(x, x, x, b.input('m', 'bool', ['B', 'K']), { heads: 3, kvHeads: 2, headDim: 8, scale: 1 })).toThrow(/not a multiple/);
    expect(() => b.selectThreshold(b.input('c', 'f64', ['B', 'N']), 1.5)).toThrow(/threshold 1.5 outside/);
    expect(() => b.input('x', 'f32', [1])).toThrow(/declared twice/);
  });

  it('builds the same structural hash twice and a different one for another config', () => {
    const c = cfgOf('llada_s20', llada);
    const g1 = buildForwardGraph(llada, c, { hasWeight: () => false });
    const g2 = buildForwardGraph(llada, { ...c }, { hasWeight: () => false });
    expect(g1.hash).toBe(g2.hash);
    expect(buildForwardGraph(llada, { ...c, nLayers: c.nLayers - 1 }, { hasWeight: () => false }).hash).not.toBe(g1.hash);
    expect(Object.isFrozen(g1.nodes)).toBe(true);
  });

  it('fusion folds SwiGLU, residual adds and GQA repeats, and keeps every output', () => {
    const g = buildForwardGraph(dream, cfgOf('dream_s20', dream), { hasWeight: () => true });
    const f = fuse(g);
    const count = (gr: typeof g, op: string) => gr.nodes.filter((n) => n.op === op).length;
    const layers = 3;
    expect(count(g, 'repeat_kv')).toBe(2 * layers);
    expect(count(f, 'repeat_kv')).toBe(0);
    expect(count(f, 'silu_mul')).toBe(layers);
    expect(count(f, 'add')).toBe(0);
    expect(f.ofKind('matmul').filter((n) => n.attrs.hasResidual)).toHaveLength(2 * layers);
    expect(f.ofKind('attention').every((n) => n.attrs.kvHeads === 2)).toBe(true);
    expect(Object.keys(f.outputs)).toEqual(['logits']);
    expect(f.nodes.length).toBeLessThan(g.nodes.length);
  });

  it('prints one line per node with its type', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'f32', ['B', 4]);
    b.output('y', b.silu(x));
    const text = printGraph(b.build());
    expect(text).toContain('%1 = silu(%0) : f32[B, 4]  -> y');
  });
});
