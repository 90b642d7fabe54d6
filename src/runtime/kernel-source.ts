import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, debugLog } from '../env.ts';

/** The source a compile will actually use, and where a reader can find it on disk. */
export interface EffectiveSource {
  source: string;
  /** The override file when one was used, else the dump file when dumping, else null. */
  path: string | null;
  /** True when FASTDLLM_OVERRIDE_DIR supplied the source. */
  overridden: boolean;
}

/**
 * The one dump / override path of both targets (Triton style): every generated source is written
 * to FASTDLLM_DUMP_DIR/<file>, and a hand-edited FASTDLLM_OVERRIDE_DIR/<file> of the same name is
 * compiled instead when it exists. `file` is the module name with its extension (`cpu_<hash>.cpp`,
 * `<kernel>.cu`). FASTDLLM_DEBUG=4 prints the source that will be compiled.
 */
export function effectiveSource(file: string, generated: string, dirs: { dumpDir?: string; overrideDir?: string } = env): EffectiveSource {
  let path: string | null = null;
  let source = generated;
  let overridden = false;
  if (dirs.dumpDir) {
    mkdirSync(dirs.dumpDir, { recursive: true });
    path = join(dirs.dumpDir, file);
    writeFileSync(path, generated);
  }
  const over = dirs.overrideDir ? join(dirs.overrideDir, file) : null;
  if (over && existsSync(over)) {
    path = over;
    overridden = true;
    debugLog(1, `using override ${over}`);
    source = readFileSync(over, 'utf8');
  }
  debugLog(4, `${overridden ? 'overridden' : 'generated'} source ${file}:\n${source}`);
  return { source, path, overridden };
}
