import type { Graph } from '../../ir/graph.ts';
import type { HostTensor } from '../buffers.ts';
import type { DimResolver } from './memory.ts';

/** Largest position + 1 the RoPE tables cover (2^18: Dream's 32768 and beyond, at most 128 MB of table). */
export const MAX_POSITION = 1 << 18;

/**
 * Bounds checks the generated kernels do not make, done on the host before anything launches:
 * token ids, head rows, cache rows and key counts. Bad input is an error naming the value,
 * never a stray device memory access (which would poison the context for the whole process).
 */
export function checkCudaOperands(g: Graph, host: Map<number, HostTensor>, d: DimResolver): void {
  for (const n of g.nodes) {
    switch (n.op) {
      case 'embedding': {
        const ids = host.get(n.inputs[1]);
        const rows = d.shape(n.inputs[0])[0];
        if (ids) for (let i = 0; i < ids.data.length; i++) {
          if (ids.data[i] < 0 || ids.data[i] >= rows) throw new RangeError(`token id ${ids.data[i]} (at index ${i}) outside the vocabulary [0, ${rows})`);
        }
        break;
      }
      case 'gather_rows': {
        const rows = host.get(n.inputs[1]);
        const t = d.shape(n.inputs[0])[1];
        if (rows) for (let i = 0; i < rows.data.length; i++) {
          if (rows.data[i] < 0 || rows.data[i] >= t) throw new RangeError(`head row ${rows.data[i]} outside the window [0, ${t})`);
        }
        break;
      }
      case 'cache_write': {
        const start = host.get(n.inputs[2]);
        const t = d.shape(n.inputs[1])[1], kmax = d.shape(n.inputs[0])[1];
        if (start && (start.data[0] < 0 || start.data[0] + t > kmax)) throw new RangeError(`cache write rows [${start.data[0]}, ${start.data[0] + t}) outside the cache's ${kmax} rows`);
        break;
      }
      case 'attention': {
        const kLen = d.shape(n.inputs[3])[1], kmax = d.shape(n.inputs[1])[1];
        if (kLen > kmax) throw new RangeError(`attention over ${kLen} keys but the cache holds ${kmax} rows`);
        break;
      }
      case 'rope': {
        const pos = host.get(n.inputs[1]);
        if (pos) for (let i = 0; i < pos.data.length; i++) {
          if (pos.data[i] < 0 || pos.data[i] >= MAX_POSITION) throw new RangeError(`position ${pos.data[i]} (at index ${i}) outside [0, ${MAX_POSITION})`);
        }
        break;
      }
    }
  }
}
