import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCxx } from '../../src/runtime/native/cpu-backend.ts';
import { cli } from '../helpers/cli.ts';
import { CXX, describeGated, type Gate } from '../helpers/gates.ts';
import { modelDir } from '../helpers/golden.ts';

/** FASTDLLM_THREADS and CXX, each in a process of its own (the environment is read once at start). */
const ROOT = join(import.meta.dirname, '..', '..');
const FORWARD = ['forward', '--model', modelDir('llada_s3'), '--ids', '2,7,1,8,2,8', '--json', '--device', 'cpu'];
const PROC: Gate = { ok: CXX.ok && existsSync('/proc/self/status'), what: 'no /proc or no C++ compiler', why: 'the thread count is read from /proc/self/status' };

function probe(threads: string | undefined, omp?: string): { threads: number; logits: string } {
  const { OMP_NUM_THREADS: _o, FASTDLLM_THREADS: _f, ...env } = process.env;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'helpers', 'threads-probe.ts'), modelDir('llada_s20')], {
    cwd: ROOT, encoding: 'utf8', timeout: 120_000,
    env: { ...env, ...(threads === undefined ? {} : { FASTDLLM_THREADS: threads }), ...(omp === undefined ? {} : { OMP_NUM_THREADS: omp }) },
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describeGated(PROC, 'FASTDLLM_THREADS', () => {
  it('sets the CPU kernels\' thread count (the process gains exactly the extra workers) and never the results', () => {
    const one = probe('1'), three = probe('3');
    // OpenMP runs a parallel region on the calling thread plus N - 1 workers.
    expect(three.threads - one.threads).toBe(2);
    expect(three.logits).toBe(one.logits);
  });

  it('wins over OMP_NUM_THREADS, which is honoured only when FASTDLLM_THREADS is not set', () => {
    const one = probe('1', '3'), ompOnly = probe(undefined, '3');
    expect(ompOnly.threads - one.threads).toBe(2);
  });

  it('a value that is not a count is refused, naming the variable', () => {
    const r = cli(FORWARD, undefined, { FASTDLLM_THREADS: 'two' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FASTDLLM_THREADS=two');
  });
});

describeGated(CXX, 'CXX', () => {
  it('compiles the CPU kernels with the compiler it names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdllm-cxx-'));
    const log = join(dir, 'calls.log');
    const wrapper = join(dir, 'my-cxx');
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> '${log}'\nexec '${findCxx()!.path}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const base = cli(FORWARD);
    const r = cli(FORWARD, undefined, { CXX: wrapper, FASTDLLM_CACHE_DIR: join(dir, 'cache') });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/kernel\.cpp/); // the compile went through the wrapper
    expect(JSON.parse(r.stdout).logits).toEqual(JSON.parse(base.stdout).logits);
  });

  it('a CXX that does not run is named in a warning before another compiler is used', () => {
    const r = cli(FORWARD, undefined, { CXX: '/nonexistent/c++', FASTDLLM_CACHE_DIR: mkdtempSync(join(tmpdir(), 'fdllm-badcxx-')) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/CXX=\/nonexistent\/c\+\+ does not run/);
    expect(JSON.parse(r.stdout).logits).toEqual(JSON.parse(cli(FORWARD).stdout).logits);
  });

  it('with no compiler at all (CXX=/nonexistent, nothing on PATH): a warning, and the reference kernels\' logits', () => {
    const r = cli(FORWARD, undefined, { CXX: '/nonexistent', PATH: '/nonexistent', FASTDLLM_CACHE_DIR: mkdtempSync(join(tmpdir(), 'fdllm-nocxx-')) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no C\+\+ compiler found; running the slow TypeScript reference kernels/);
    const ref = cli([...FORWARD, '--backend', 'reference']);
    expect(ref.code, ref.stderr).toBe(0);
    expect(JSON.parse(r.stdout).logits).toEqual(JSON.parse(ref.stdout).logits);
  });
});
