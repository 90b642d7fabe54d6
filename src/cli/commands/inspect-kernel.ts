import { UsageError } from '../args.ts';

/**
 * The kernel `inspect --kernel NAME` picks out of a listing (CUDA launches, where a name repeats,
 * or the CPU module's distinct kernels): the one named NAME, else the only name containing NAME.
 * One lookup for both devices, so they accept and refuse the same names; the error lists every
 * distinct name, in listing order.
 */
export function kernelByName<T extends { name: string }>(kernels: readonly T[], query: string): T {
  const exact = kernels.filter((k) => k.name === query);
  const found = exact.length ? exact : kernels.filter((k) => k.name.includes(query));
  const names = [...new Set(found.map((k) => k.name))];
  if (names.length !== 1) {
    throw new UsageError(`--kernel: ${names.length ? `'${query}' matches ${names.length} kernels` : `no kernel named '${query}'`}; kernels:\n  ${[...new Set(kernels.map((k) => k.name))].join('\n  ')}`);
  }
  return found[0];
}
