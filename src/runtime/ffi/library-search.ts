import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import koffi, { type LibraryHandle } from 'koffi';
import { debugLog } from '../../env.ts';

/** A shared library that loaded, from where, and what was tried before it. */
export interface LoadedLibrary {
  lib: LibraryHandle;
  path: string;
  tried: string[];
}

/** None of the candidate paths of a library loaded; `tried` says each path and why. */
export class LibraryNotFoundError extends Error {
  constructor(readonly library: string, readonly tried: string[], hint: string) {
    super(`${library} not found. ${hint}\n  tried:\n${tried.map((t) => `    ${t}`).join('\n') || '    (nothing)'}`);
  }
}

/** Expands one `*` in a path component against the file system (sorted, so the order is stable). */
function glob(pattern: string): string[] {
  const parts = pattern.split('/');
  let acc = [''];
  for (const part of parts) {
    if (!part.includes('*')) {
      acc = acc.map((p) => (p === '' && part === '' ? '' : `${p}/${part}`));
      continue;
    }
    const re = new RegExp(`^${part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    const next: string[] = [];
    for (const dir of acc) {
      try {
        for (const e of readdirSync(dir || '/').sort()) if (re.test(e)) next.push(`${dir}/${e}`);
      } catch {
        /* not a directory */
      }
    }
    acc = next;
  }
  return acc.map((p) => p.replace(/^\/\//, '/'));
}

/** Python site-packages folders where pip wheels of NVIDIA libraries (PyTorch's deps) may sit. */
export function pythonSitePackages(): string[] {
  const roots = [
    '/usr/lib/python3*/site-packages', '/usr/lib/python3*/dist-packages', '/usr/local/lib/python3*/site-packages',
    '/usr/local/lib/python3*/dist-packages', `${homedir()}/.local/lib/python3*/site-packages`, '/opt/*/lib/python3*/site-packages',
    '/opt/*/.venv/lib/python3*/site-packages', '/opt/conda/lib/python3*/site-packages',
  ];
  if (process.env.VIRTUAL_ENV) roots.unshift(`${process.env.VIRTUAL_ENV}/lib/python3*/site-packages`);
  if (process.env.CONDA_PREFIX) roots.unshift(`${process.env.CONDA_PREFIX}/lib/python3*/site-packages`);
  return roots.flatMap(glob);
}

/** Folders that may hold the CUDA toolkit's or the driver's libraries, most specific first. */
export function cudaLibraryDirs(): string[] {
  const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter(Boolean) as string[];
  const dirs = [
    ...homes.flatMap((h) => [join(h, 'lib64'), join(h, 'lib'), join(h, 'targets/x86_64-linux/lib')]),
    ...glob('/usr/local/cuda-*/lib64').reverse(),
    '/usr/local/nvidia/lib64', '/usr/local/nvidia/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib',
  ];
  for (const sp of pythonSitePackages()) dirs.push(...glob(`${sp}/nvidia/*/lib`));
  return [...new Set(dirs)];
}

/**
 * Loads the first candidate that loads: `override` (an explicit path) alone when given, else
 * each name through the system loader (LD_LIBRARY_PATH, ldconfig), then each name in each of
 * `dirs`. Prints what loaded from where at FASTDLLM_DEBUG>=1.
 */
export function loadFirst(library: string, names: string[], dirs: string[], override: string | undefined, hint: string): LoadedLibrary {
  const tried: string[] = [];
  const attempt = (path: string): LibraryHandle | null => {
    try {
      const lib = koffi.load(path);
      tried.push(`${path}: loaded`);
      return lib;
    } catch (e) {
      tried.push(`${path}: ${(e as Error).message.split('\n')[0]}`);
      return null;
    }
  };
  const candidates = override ? [override] : [...names, ...dirs.flatMap((d) => names.map((n) => join(d, n)).filter((p) => existsSync(p)))];
  for (const path of candidates) {
    const lib = attempt(path);
    if (lib) {
      const where = path.includes('/') ? path : mappedPath(path) ?? path;
      debugLog(1, `loaded ${library} from ${where}${tried.length > 1 ? ` (after ${tried.length - 1} other tries)` : ''}`);
      return { lib, path: where, tried };
    }
  }
  throw new LibraryNotFoundError(library, tried, hint);
}

/** Where the system loader found a library loaded by bare name (read from /proc/self/maps). */
function mappedPath(name: string): string | null {
  try {
    const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.endsWith(`/${name}`) || l.includes(`/${name}.`) || l.includes(`/${name}`));
    return line ? line.slice(line.indexOf('/')) : null;
  } catch {
    return null;
  }
}
