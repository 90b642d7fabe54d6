import type { Node } from '../../ir/graph.ts';
import type { Buf } from '../buffers.ts';

/**
 * Bounds checks that generated kernels do not make: every index a kernel will dereference is
 * validated here first, so bad input is an error naming the value, never a stray memory access.
 */
export function checkKernelOperands(node: Node, ins: Buf[], shapes: number[][]): void {
  switch (node.op) {
    case 'embedding': {
      const rows = shapes[0][0], ids = ins[1];
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] < 0 || ids[i] >= rows) throw new RangeError(`token id ${ids[i]} (at index ${i}) outside the vocabulary [0, ${rows})`);
      }
      break;
    }
    case 'gather_rows': {
      const t = shapes[0][1], rows = ins[1];
      for (let i = 0; i < rows.length; i++) if (rows[i] < 0 || rows[i] >= t) throw new RangeError(`head row ${rows[i]} outside the window [0, ${t})`);
      break;
    }
    case 'cache_write': {
      const start = ins[2][0], t = shapes[1][1], kmax = shapes[0][1];
      if (start < 0 || start + t > kmax) throw new RangeError(`cache write rows [${start}, ${start + t}) outside the cache's ${kmax} rows`);
      break;
    }
    case 'attention': {
      const kLen = shapes[3][1], kmax = shapes[1][1];
      if (kLen > kmax) throw new RangeError(`attention over ${kLen} keys but the cache holds ${kmax} rows`);
      break;
    }
  }
}
