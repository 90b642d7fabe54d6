import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Folder of the kernel bodies both code generators instantiate (templates/ at the repository
 * root): NVRTC-safe .cuh files for CUDA, templates/cpu/*.h for the CPU.
 */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

const cache = new Map<string, string>();

/** The text of one template file (path relative to TEMPLATE_DIR); read once, as it is part of the source, not user data. */
export function templateText(file: string): string {
  let t = cache.get(file);
  if (t === undefined) {
    try {
      t = readFileSync(TEMPLATE_DIR + file, 'utf8');
    } catch (e) {
      throw new Error(`codegen: cannot read template ${TEMPLATE_DIR + file}: ${(e as Error).message}`);
    }
    cache.set(file, t);
  }
  return t;
}
