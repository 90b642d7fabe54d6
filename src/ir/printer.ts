import type { Graph } from './graph.ts';
import { shapeToString } from './shape.ts';

/** Human-readable listing: one line per node, `%id = op(args) {attrs} : dtype[shape]`. */
export function printGraph(g: Graph): string {
  const outs = new Map<number, string[]>();
  for (const [name, id] of Object.entries(g.outputs)) outs.set(id, [...(outs.get(id) ?? []), name]);
  const lines = g.nodes.map((n) => {
    const args = n.inputs.map((i) => `%${i}`).join(', ');
    const attrs = Object.keys(n.attrs).length ? ' ' + JSON.stringify(n.attrs, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)) : '';
    const tag = outs.has(n.id) ? `  -> ${outs.get(n.id)!.join(', ')}` : '';
    return `%${n.id} = ${n.op}(${args})${attrs} : ${n.dtype}${shapeToString(n.shape)}${tag}`;
  });
  return `graph ${g.hash.slice(0, 12)} (${g.nodes.length} nodes)\n${lines.join('\n')}\n`;
}
