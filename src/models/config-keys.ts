/** Typed reads of HF config.json keys, with errors naming the file and key. */
export class ConfigError extends Error {}

export function intKey(hf: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = hf[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new ConfigError(`${file}: missing key '${key}'`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ConfigError(`${file}: key '${key}' must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

export function posIntKey(hf: Record<string, unknown>, key: string, file: string, fallback?: number): number {
  const v = intKey(hf, key, file, fallback);
  if (v <= 0) throw new ConfigError(`${file}: key '${key}' must be > 0, got ${v}`);
  return v;
}

export function numKey(hf: Record<string, unknown>, key: string, file: string, fallback: number): number {
  const v = hf[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`${file}: key '${key}' must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

export function boolKey(hf: Record<string, unknown>, key: string, file: string, fallback: boolean): boolean {
  const v = hf[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(`${file}: key '${key}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Checks the head layout shared by every attention model. */
export function checkHeads(file: string, d: number, heads: number, kvHeads: number): number {
  if (d % heads !== 0) throw new ConfigError(`${file}: width ${d} is not a multiple of ${heads} heads`);
  if (heads % kvHeads !== 0) throw new ConfigError(`${file}: ${heads} heads is not a multiple of ${kvHeads} kv heads`);
  const hd = d / heads;
  if (hd % 2 !== 0) throw new ConfigError(`${file}: head dim ${hd} must be even for RoPE`);
  return hd;
}
