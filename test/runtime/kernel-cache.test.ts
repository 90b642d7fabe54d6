import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliAsync } from '../helpers/cli.ts';
import { CXX, describeGated } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';

/**
 * The on-disk kernel cache as processes see it: a corrupt entry (binary or meta.json) is rebuilt,
 * never trusted, and two processes building the same kernel at once leave one valid entry.
 */
const FORWARD = ['forward', '--model', modelDir('llada_s3'), '--ids', '5,6,7,8', '--json', '--device', 'cpu'];
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function forward(cacheDir: string): number[] {
  const r = cli(FORWARD, undefined, { FASTDLLM_CACHE_DIR: cacheDir });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).not.toMatch(/reference kernels/); // the native backend ran
  return JSON.parse(r.stdout).logits;
}

/** Every entry under <cache>/v*\/<arch>/: its folder names, and whether its binary matches its meta. */
function entries(cacheDir: string): { names: string[]; dirs: string[]; valid: boolean[] } {
  const dirs: string[] = [];
  for (const v of readdirSync(cacheDir).filter((d) => /^v\d+$/.test(d))) {
    for (const arch of readdirSync(join(cacheDir, v))) for (const e of readdirSync(join(cacheDir, v, arch))) dirs.push(join(cacheDir, v, arch, e));
  }
  const valid = dirs.map((d) => {
    try {
      const meta = JSON.parse(readFileSync(join(d, 'meta.json'), 'utf8')) as { binary: string; binarySha256: string };
      return sha256(readFileSync(join(d, meta.binary))) === meta.binarySha256;
    } catch {
      return false;
    }
  });
  return { names: dirs.map((d) => d.split('/').at(-1)!), dirs, valid };
}

describeGated(CXX, 'kernel cache (CPU kernels, separate processes)', () => {
  it('a corrupt binary or meta.json is rebuilt and gives the same logits', () => {
    const cache = mkdtempSync(join(tmpdir(), 'fdllm-kc-'));
    const logits = forward(cache);
    const first = entries(cache);
    expect(first.dirs).toHaveLength(1);
    expect(first.valid).toEqual([true]);
    const dir = first.dirs[0];
    const so = join(dir, 'kernel.so');
    expect(existsSync(so)).toBe(true);
    const good = readFileSync(so);

    // A truncated binary (a crash mid-write of an older version, a full disk).
    writeFileSync(so, good.subarray(0, good.length >> 1));
    expect(forward(cache)).toEqual(logits);
    expect(readFileSync(so).equals(good)).toBe(true);
    expect(entries(cache)).toEqual(first); // rebuilt in place, nothing left beside it

    // A meta.json that is not JSON.
    writeFileSync(join(dir, 'meta.json'), '{"key":');
    expect(forward(cache)).toEqual(logits);
    expect(entries(cache)).toEqual(first);
  });

  it('two processes building the same kernel at once leave one valid entry and agree', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'fdllm-kc-race-'));
    const [a, b] = await Promise.all([cliAsync(FORWARD, { FASTDLLM_CACHE_DIR: cache }), cliAsync(FORWARD, { FASTDLLM_CACHE_DIR: cache })]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(a.stdout).logits).toEqual(JSON.parse(b.stdout).logits);
    const e = entries(cache);
    expect(e.names, 'one entry, no temp or trash folders left').toHaveLength(1);
    expect(e.valid).toEqual([true]);
    // And a third process uses it as it is.
    const mtime = readFileSync(join(e.dirs[0], 'meta.json'), 'utf8');
    expect(forward(cache)).toEqual(JSON.parse(a.stdout).logits);
    expect(readFileSync(join(e.dirs[0], 'meta.json'), 'utf8')).toBe(mtime);
  });

  it('without FASTDLLM_CACHE_DIR, kernels go to ~/.cache/fastdllm', () => {
    // The suite's own runs use a temporary cache; this test points HOME somewhere temporary instead.
    const home = mkdtempSync(join(tmpdir(), 'fdllm-home-'));
    const r = cli(FORWARD, undefined, { FASTDLLM_CACHE_DIR: undefined, XDG_CACHE_HOME: undefined, HOME: home });
    expect(r.code, r.stderr).toBe(0);
    const e = entries(join(home, '.cache', 'fastdllm'));
    expect(e.dirs).toHaveLength(1);
    expect(e.valid).toEqual([true]);
  });
});
