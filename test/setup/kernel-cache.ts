import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup: a run of the suite works in a temporary folder of its own, removed at the
 * end, so neither its compiled kernels nor the checkpoints, caches and projects its tests make
 * are left behind. TMPDIR points there (os.tmpdir() reads it on every call), and so does the
 * kernel cache unless FASTDLLM_CACHE_DIR is set (a shared cache between runs); a test about the
 * default cache location sets its own. Set before any worker starts, so every test file and
 * every CLI process a test spawns inherits both.
 */
export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'fastdllm-test-'));
  process.env.TMPDIR = root;
  process.env.FASTDLLM_CACHE_DIR ||= join(root, 'kernels');
  return () => rmSync(root, { recursive: true, force: true });
}
