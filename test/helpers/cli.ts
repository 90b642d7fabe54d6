import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'fastdllm.js');

/** What a CLI run left: exit code and output. */
export interface CliResult { code: number; stdout: string; stderr: string }

/** Runs the fastdllm bin as a user would; `env` entries are added to (or, when undefined, removed from) the test's environment. */
export function cli(args: string[], input?: string, env?: Record<string, string | undefined>): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, maxBuffer: 256 << 20, timeout: 120_000, env: withEnv(env) });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `cli`, without waiting: for tests that run several processes at once. */
export function cliAsync(args: string[], env?: Record<string, string | undefined>): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: withEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function withEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}
