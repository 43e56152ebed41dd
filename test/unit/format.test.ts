import test from 'ava';
import fc from 'fast-check';
import { formatBytes as cliBytes } from '../../src/commands/wheelhouse.ts';
import { formatBytes } from '../../src/format.ts';
import { formatBytes as uiBytes } from '../../src/http/ui/html.ts';

test('formatBytes: binary units (the config\'s) by default, three significant digits', (t) => {
  t.is(formatBytes(0), '0 B');
  t.is(formatBytes(1023), '1023 B');
  t.is(formatBytes(1024), '1.00 KiB');
  t.is(formatBytes(1536), '1.50 KiB');
  t.is(formatBytes(23.4 * 1024 ** 2), '23.4 MiB');
  t.is(formatBytes(300 * 1024 ** 2), '300 MiB');
  t.is(formatBytes(50 * 1024 ** 3), '50.0 GiB');
  t.is(formatBytes(2 * 1024 ** 5), '2.00 PiB');
  t.is(formatBytes(3000 * 1024 ** 5), '3000 PiB', 'past the last unit the number grows');
});

test('formatBytes: decimal units as pip shows them', (t) => {
  t.is(formatBytes(999, 'decimal'), '999 B');
  t.is(formatBytes(1010, 'decimal'), '1.01 kB');
  t.is(formatBytes(7580, 'decimal'), '7.58 kB');
  t.is(formatBytes(38_200_000, 'decimal'), '38.2 MB');
  t.is(formatBytes(2e9, 'decimal'), '2.00 GB');
});

test('formatBytes: a value that would round up to the next unit is shown in it (never 1024 KiB, 10.00 or 100.0; 1000 to 1023 KiB whole)', (t) => {
  t.is(formatBytes(1024 ** 2 - 1), '1.00 MiB');
  t.is(formatBytes(999_999, 'decimal'), '1.00 MB');
  t.is(formatBytes(9.999 * 1024), '10.0 KiB');
  t.is(formatBytes(99.99 * 1024), '100 KiB');
  t.is(formatBytes(1000 * 1024), '1000 KiB');
  fc.assert(fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('binary' as const, 'decimal' as const), (n, units) => {
    const m = /^(\d+(?:\.\d+)?) (B|KiB|MiB|GiB|TiB|PiB|kB|MB|GB|TB|PB)$/.exec(formatBytes(n, units));
    if (!m) return false;
    const [, num, unit] = m;
    if (unit === 'B') return num === String(n);
    const digits = num!.replace('.', '').replace(/^0+/, '');
    // Binary units also show 1000 to 1023 whole (as `ls -h` does): 0.98 MiB would read worse than 1000 KiB.
    const wholeBinary = units === 'binary' && /^10[0-2]\d$/.test(num!);
    return (digits.length === 3 || wholeBinary) && (unit === 'PiB' || unit === 'PB' || Number(num) < (units === 'binary' ? 1024 : 1000));
  }));
});

test('the CLI and the web UI use it: decimal in the CLI (beside pip), binary in the UI (beside the config)', (t) => {
  t.is(cliBytes(38_200_000), '38.2 MB');
  t.is(uiBytes(38_200_000), '36.4 MiB');
});
