import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.ts';
import { CXX, itGated } from '../helpers/gates.ts';
import { FIXTURES, modelDir } from '../helpers/golden.ts';

const LLADA_8B = join(FIXTURES, 'configs', 'llada-8b-instruct.json');
const inspect = (...args: string[]) => cli(['inspect', '--device', 'cpu', ...args]);

interface CpuListing { module: string; kernels: { name: string; fuses: string[]; launches: number; nodes: number[] }[]; packs: { name: string; launches: number }[] }

describe('fastdllm inspect --device cpu', () => {
  it('--json lists the forward\'s C++ kernels, what each fuses and how often it runs', () => {
    const r = inspect('--model', modelDir('llada_s20'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const l = JSON.parse(r.stdout) as CpuListing;
    expect(l.module).toMatch(/^cpu_[0-9a-f]{12}$/);
    const names = l.kernels.map((k) => k.name);
    expect(names[0]).toMatch(/^embed_/);
    // Every node of the fused IR that computes something is one launch of one listed kernel.
    const ir = inspect('--model', modelDir('llada_s20'), '--emit', 'ir');
    expect(ir.code, ir.stderr).toBe(0);
    const computing = ir.stdout.split('\n').filter((line) => /^%\d+ = (?!input\(|param\(|state\()/.test(line));
    expect(l.kernels.reduce((s, k) => s + k.launches, 0)).toBe(computing.length);
    expect(new Set(l.kernels.flatMap((k) => k.nodes))).toEqual(new Set(computing.map((line) => Number(/^%(\d+)/.exec(line)![1]))));
    const residual = l.kernels.filter((k) => k.fuses.join('+') === 'matmul+add');
    expect(residual.length).toBeGreaterThan(0);
    expect(l.kernels.find((k) => k.fuses.join('+') === 'silu+mul')).toBeDefined();
    for (const k of l.kernels) expect(k.launches, k.name).toBe(k.nodes.length);
    // Every layer's attention runs the same kernel.
    const nLayers = l.kernels.find((k) => k.name.startsWith('attention_'))!.launches;
    expect(nLayers).toBeGreaterThan(1);
    expect(l.packs.length).toBeGreaterThan(0);
  });

  it('prints one kernel\'s C++ and IR, the whole module, and names the kernels when --kernel matches none', () => {
    const l = JSON.parse(inspect('--config', LLADA_8B, '--json').stdout) as CpuListing;
    const attn = l.kernels.find((k) => k.name.startsWith('attention_'))!;
    expect(attn.launches).toBe(32); // LLaDA-8B: one per layer
    const cpp = inspect('--config', LLADA_8B, '--kernel', attn.name, '--emit', 'cpp');
    expect(cpp.code, cpp.stderr).toBe(0);
    expect(cpp.stdout).toContain(`extern "C" void ${attn.name}(`);
    const whole = inspect('--config', LLADA_8B, '--emit', 'cpp');
    expect(whole.code, whole.stderr).toBe(0);
    expect(whole.stdout).toContain(cpp.stdout);
    const ir = inspect('--config', LLADA_8B, '--kernel', attn.name, '--emit', 'ir');
    expect(ir.code, ir.stderr).toBe(0);
    const lines = ir.stdout.trim().split('\n');
    expect(lines.length).toBe(attn.launches);
    for (const line of lines) expect(line).toMatch(/^%\d+ = attention\(/);
    const bad = inspect('--config', LLADA_8B, '--kernel', 'no_such_kernel');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("no kernel named 'no_such_kernel'");
    expect(bad.stderr).toContain(attn.name);
    const cudaOnly = inspect('--config', LLADA_8B, '--device-arch', 'sm_80');
    expect(cudaOnly.code).toBe(2);
    expect(cudaOnly.stderr).toContain('--device-arch applies to --device cuda only');
    const badEmit = inspect('--config', LLADA_8B, '--kernel', attn.name, '--emit', 'ptx');
    expect(badEmit.code).toBe(2);
    expect(badEmit.stderr).toContain('--emit');
  });

  itGated(CXX, '--emit asm prints the kernel\'s assembly (g++ -S)', () => {
    const l = JSON.parse(inspect('--model', modelDir('llada_s20'), '--json').stdout) as CpuListing;
    const name = l.kernels.find((k) => k.fuses.join('+') === 'silu+mul')!.name;
    const r = inspect('--model', modelDir('llada_s20'), '--kernel', name, '--emit', 'asm');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\.type\\s+${name}[^,]*, @function`));
    expect(r.stdout).toMatch(new RegExp(`\\.size\\s+${name}, \\.-${name}`));
    expect(r.stdout).not.toMatch(/\.type\s+embed_/);
  }, 180_000);
});
