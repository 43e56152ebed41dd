/**
 * Counts and byte counts for people. Byte counts: three significant digits from the first unit up
 * (binary units also show 1000 to 1023 whole, as `ls -h` does):
 * one implementation for the CLI and the web UI, a leaf importing nothing.
 *
 * - binary (the default): KiB, MiB, GiB, powers of 1024, the units the config
 *   takes, so the web UI's sizes read like the maxCacheSize or maxFileSize
 *   they are compared with;
 * - decimal: kB, MB, GB, powers of 1000, as pip shows downloads, for the
 *   CLI's wheelhouse and prefetch tables that sit beside pip's output.
 */

const STEPS = {
  binary: { base: 1024, units: ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] },
  decimal: { base: 1000, units: ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] },
} as const;

export type ByteUnits = keyof typeof STEPS;

/** `512 B`, `1.50 KiB`, `23.4 MiB`, `300 MiB` (decimal: `1.50 kB`, `23.4 MB`). */
export function formatBytes(n: number, units: ByteUnits = 'binary'): string {
  const { base, units: names } = STEPS[units];
  if (n < base) return `${n} B`;
  let v = n;
  let i = 0;
  // Step on while the value shown would round up to the base: never `1024 KiB` or `1000 kB`.
  while (i < names.length - 1 && v >= base - 0.5) {
    v /= base;
    i++;
  }
  return `${v < 9.995 ? v.toFixed(2) : v < 99.95 ? v.toFixed(1) : v.toFixed(0)} ${names[i]}`;
}

/** `1 file`, `3 files`: a count and its noun, the noun made plural with an `s` (the nouns the CLI counts all are). */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
