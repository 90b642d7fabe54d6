import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, debugLog } from '../env.ts';

/** Bumped whenever generated code or the entry layout changes meaning. */
export const CODEGEN_VERSION = 1;

/** What a compiled artifact depends on; all of it goes into the key. */
export interface CompileKey {
  source: string;
  compiler: string;
  options: readonly string[];
  arch: string;
}

export interface CacheEntry {
  dir: string;
  binaryPath: string;
  /** True when the entry was found on disk (no compile happened). */
  hit: boolean;
}

interface Meta {
  name: string;
  key: string;
  compiler: string;
  options: readonly string[];
  arch: string;
  binary: string;
  binarySha256: string;
  createdAt: string;
}

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

export function compileKeyHash(k: CompileKey): string {
  return sha256(JSON.stringify([CODEGEN_VERSION, k.source, k.compiler, k.options, k.arch]));
}

/**
 * On-disk cache of compiled kernels: `<root>/v<N>/<arch>/<name>-<hash12>/{source, binary, meta.json}`.
 * Entries are built in a temp dir and renamed into place, so a reader never sees half an entry;
 * an entry whose binary does not match its recorded hash is rebuilt, never trusted. Builds of
 * the same key in one process share one promise.
 */
export class KernelCache {
  private readonly inFlight = new Map<string, Promise<CacheEntry>>();

  constructor(readonly root: string = env.cacheDir) {}

  entryDir(name: string, k: CompileKey): string {
    return join(this.root, `v${CODEGEN_VERSION}`, k.arch, `${name}-${compileKeyHash(k).slice(0, 12)}`);
  }

  /**
   * Returns the entry for `k`, building it with `build(tmpDir)` when absent or corrupt.
   * `build` must write `sourceFile` and `binaryFile` into tmpDir.
   */
  get(name: string, k: CompileKey, files: { sourceFile: string; binaryFile: string }, build: (tmpDir: string) => Promise<void>): Promise<CacheEntry> {
    const key = compileKeyHash(k);
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.getOrBuild(name, k, key, files, build).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  private async getOrBuild(name: string, k: CompileKey, key: string, files: { sourceFile: string; binaryFile: string }, build: (tmpDir: string) => Promise<void>): Promise<CacheEntry> {
    const dir = this.entryDir(name, k);
    const binaryPath = join(dir, files.binaryFile);
    if (this.valid(dir, key, files.binaryFile)) return { dir, binaryPath, hit: true };
    if (existsSync(dir)) {
      debugLog(1, `kernel cache: corrupt entry ${dir}, rebuilding`);
      this.discard(dir);
    }
    const parent = join(this.root, `v${CODEGEN_VERSION}`, k.arch);
    mkdirSync(parent, { recursive: true });
    const tmp = join(parent, `.tmp-${name}-${randomBytes(6).toString('hex')}`);
    mkdirSync(tmp);
    try {
      writeFileSync(join(tmp, files.sourceFile), k.source);
      const t0 = performance.now();
      await build(tmp);
      const binary = readFileSync(join(tmp, files.binaryFile));
      const meta: Meta = { name, key, compiler: k.compiler, options: k.options, arch: k.arch, binary: files.binaryFile, binarySha256: sha256(binary), createdAt: new Date().toISOString() };
      writeFileSync(join(tmp, 'meta.json'), JSON.stringify(meta, null, 1));
      debugLog(1, `compiled ${name} in ${(performance.now() - t0).toFixed(0)} ms -> ${dir}`);
      try {
        renameSync(tmp, dir);
      } catch (e) {
        // Another process won the race with an identical build: keep theirs if it is valid.
        if (!this.valid(dir, key, files.binaryFile)) throw e;
        rmSync(tmp, { recursive: true, force: true });
      }
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return { dir, binaryPath, hit: false };
  }

  private valid(dir: string, key: string, binaryFile: string): boolean {
    try {
      const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Meta;
      return meta.key === key && meta.binary === binaryFile && sha256(readFileSync(join(dir, binaryFile))) === meta.binarySha256;
    } catch {
      return false;
    }
  }

  private discard(dir: string): void {
    const trash = `${dir}.corrupt-${randomBytes(4).toString('hex')}`;
    try {
      renameSync(dir, trash);
      rmSync(trash, { recursive: true, force: true });
    } catch {
      /* someone else removed or replaced it */
    }
  }
}
