import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The import rules of .dependency-cruiser.cjs (no circles, layers one way, koffi only in the
// runtime, no test code in src/ or bench/), checked on every `npm test`. The CLI runs in a child
// process, exactly as `npx depcruise src bench` runs it by hand.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

interface Violation { type: string; from: string; to: string; rule: { name: string }; cycle?: { name: string }[] }
interface CruiseOutput { summary: { violations: Violation[]; totalCruised: number; error: number } }

async function cruise(): Promise<CruiseOutput> {
  const args = [bin, '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src', 'bench'];
  // depcruise exits non-zero when it finds violations; its JSON report is on stdout either way.
  const r = await promisify(execFile)(process.execPath, args, { cwd: root, maxBuffer: 64 << 20 }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    if (!e.stdout) throw new Error(`depcruise failed: ${e.stderr ?? e.message}`);
    return { stdout: e.stdout };
  });
  return JSON.parse(r.stdout) as CruiseOutput;
}

const describeViolation = (v: Violation) =>
  `${v.rule.name}: ${v.cycle ? [v.from, ...v.cycle.map((c) => c.name)].join(' -> ') : `${v.from} -> ${v.to}`}`;

describe('import rules (.dependency-cruiser.cjs)', () => {
  it('src/ and bench/ have no circles and respect the layers', async () => {
    const out = await cruise();
    // A cruise that found nothing would pass vacuously: src/ has over a hundred modules.
    expect(out.summary.totalCruised).toBeGreaterThan(100);
    expect(out.summary.violations.map(describeViolation)).toEqual([]);
  });
});
