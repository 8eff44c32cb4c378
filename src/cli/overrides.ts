import { InvalidArgumentError } from 'commander';

/** Parse one `--set NAME=VALUE` and add it to the map commander accumulates. */
export function collectOverride(text: string, acc: Record<string, number>): Record<string, number> {
  // The value is written as in a .moe file: decimal, optional fraction, exponent and `_` separators.
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(-?\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)$/.exec(text);
  const value = m ? Number(m[2]!.replace(/_/g, '')) : NaN;
  if (!m || !Number.isFinite(value)) {
    throw new InvalidArgumentError(`expected NAME=NUMBER, such as hidden=64, but got '${text}'`);
  }
  return { ...acc, [m[1]!]: value };
}
