import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup: a run of the suite compiles its kernels into a temporary cache, never into
 * the user's ~/.cache/fastdllm. Set before any worker starts, so every test file and every CLI
 * process a test spawns inherits it. An explicit FASTDLLM_CACHE_DIR wins (a shared cache between
 * runs); a test about the default location sets its own.
 */
export default function setup(): () => void {
  if (process.env.FASTDLLM_CACHE_DIR) return () => {};
  const dir = mkdtempSync(join(tmpdir(), 'fastdllm-test-cache-'));
  process.env.FASTDLLM_CACHE_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
