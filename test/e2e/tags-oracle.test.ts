/**
 * The wheel pydepot picks for a target is the wheel real pip downloads.
 *
 * Real, installable wheels (helpers/dists.ts) for two projects sit in a
 * find-links folder: `demo-mixed`, one release with ~30 wheels for mixed
 * platforms, Pythons, abi3, pure tags and build tags; and `demo-order`,
 * whose manylinux_2_16 and manylinux2010 wheels show where pip's
 * `--platform` flags and a real node disagree. For each target, both of this
 * machine's pips (23.2, Debian's 23.0) run `pip download --no-deps
 * --only-binary=:all: --no-index --find-links …` and the files they save must
 * be `bestWheel`'s choices:
 * - this machine, without target flags: pip's own tag order, exact;
 * - other targets, with `--platform` for every platform of the target's list
 *   (pip expands only manylinux2014/2010 and macOS versions by itself;
 *   PACKAGING-2026.md §2 "Aliases"), `--python-version`, `--implementation cp`
 *   and `--abi`.
 * pip runs isolated: --isolated, PIP_CONFIG_FILE=/dev/null, no PIP_* from
 * the environment (helpers/clients.ts), --no-cache-dir. A missing Python fails.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { bestWheel, parseTargetShorthand, platformTags } from '../../src/resolve/tags.ts';
import { describe, run } from '../helpers/clients.ts';
import { buildWheel, writeDists, type DistSpec } from '../helpers/dists.ts';
import { PYTHONS, pythonJson } from '../helpers/python-oracle.ts';
import { createLimiter } from '../../src/auth/hash-queue.ts';

type Tags = Pick<DistSpec, 'pythonTag' | 'abiTag' | 'platformTag' | 'buildTag'>;
const t3 = (pythonTag: string, abiTag: string, platformTag: string, buildTag?: string): Tags =>
  (buildTag === undefined ? { pythonTag, abiTag, platformTag } : { pythonTag, abiTag, platformTag, buildTag });

const MIXED: Tags[] = [
  t3('cp311', 'cp311', 'manylinux_2_17_x86_64.manylinux2014_x86_64'),
  t3('cp311', 'cp311', 'manylinux_2_17_x86_64.manylinux2014_x86_64', '1'),
  t3('cp311', 'cp311', 'manylinux_2_17_x86_64.manylinux2014_x86_64', '2'),
  t3('cp311', 'cp311', 'linux_x86_64'),
  t3('cp311', 'cp311', 'musllinux_1_1_x86_64'),
  t3('cp311', 'cp311', 'musllinux_1_2_x86_64'),
  t3('cp311', 'cp311', 'manylinux_2_17_aarch64.manylinux2014_aarch64'),
  t3('cp311', 'cp311', 'musllinux_1_1_aarch64'),
  t3('cp311', 'cp311', 'macosx_10_9_x86_64'),
  t3('cp311', 'cp311', 'macosx_10_9_universal2'),
  t3('cp311', 'cp311', 'macosx_11_0_arm64'),
  t3('cp311', 'cp311', 'win_amd64'),
  t3('cp311', 'cp311', 'win32'),
  t3('cp312', 'cp312', 'manylinux_2_17_x86_64.manylinux2014_x86_64'),
  t3('cp312', 'cp312', 'manylinux_2_17_aarch64.manylinux2014_aarch64'),
  t3('cp312', 'cp312', 'manylinux_2_28_aarch64'),
  t3('cp312', 'cp312', 'macosx_11_0_arm64'),
  t3('cp312', 'cp312', 'win_amd64', '9'),
  t3('cp312', 'cp312', 'win_amd64', '10'),
  t3('cp310', 'cp310', 'manylinux_2_17_x86_64.manylinux2014_x86_64'),
  t3('cp310', 'cp310', 'macosx_10_9_universal2'),
  t3('cp39', 'cp39', 'macosx_10_9_x86_64'),
  t3('cp37', 'cp37m', 'manylinux1_x86_64'),
  t3('cp38', 'abi3', 'manylinux_2_17_x86_64.manylinux2014_x86_64'),
  t3('cp38', 'abi3', 'manylinux2014_aarch64'),
  t3('cp38', 'abi3', 'win_arm64'),
  t3('cp38', 'abi3', 'macosx_10_9_universal2'),
  t3('cp311', 'none', 'any'),
  t3('py3', 'none', 'any'),
  t3('py2.py3', 'none', 'any'),
  t3('cp313', 'cp313', 'musllinux_1_2_aarch64'),
];

const ORDER: Tags[] = [
  t3('cp311', 'cp311', 'manylinux_2_16_x86_64'),
  t3('cp311', 'cp311', 'manylinux2010_x86_64'),
  t3('py3', 'none', 'any'),
];

/** A handful of targets, each with something to prove (see the comments). */
const CROSS_TARGETS = [
  'cp311-manylinux_2_17_x86_64', // build tags 1 < 2; demo-order: pip's --platform quirk
  'cp312-manylinux_2_28_aarch64', // older manylinux_2_17 accepted
  'cp310-macosx_11_0_arm64', // universal2 of macOS 10.9
  'cp312-win_amd64', // build tag 10 > 9, numerically
  'cp311-musllinux_1_2_x86_64',
  'cp311-manylinux_2_17_s390x', // cp311-none-any before py3-none-any
];

const setup = (() => {
  let p: Promise<{ dir: string; mixed: string[]; order: string[] }> | undefined;
  return () => (p ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pydepot-tags-oracle-'));
    const mixed = await Promise.all(MIXED.map((tags) => buildWheel({ name: 'demo-mixed', version: '1.0', ...tags })));
    const order = await Promise.all(ORDER.map((tags) => buildWheel({ name: 'demo-order', version: '1.0', ...tags })));
    await writeDists(dir, [...mixed, ...order]);
    return { dir, mixed: mixed.map((d) => d.filename), order: order.map((d) => d.filename) };
  })());
})();

test.after.always(async () => {
  const s = await setup();
  await rm(s.dir, { recursive: true, force: true });
});

// Two pips at a time: the machine has two cores and other work on them.
const limited = createLimiter(2);

/** `pip download` of both projects; the filenames pip saved. */
async function pipDownload(python: string, findLinks: string, targetArgs: string[]): Promise<string[]> {
  const out = await mkdtemp(join(tmpdir(), 'pydepot-tags-dl-'));
  try {
    const r = await limited(() => run(python, [
      '-m', 'pip', '--isolated', '--no-cache-dir', '--disable-pip-version-check',
      'download', '--no-deps', '--only-binary=:all:', '--no-index', '--find-links', findLinks, '-d', out,
      ...targetArgs, 'demo-mixed==1.0', 'demo-order==1.0',
    ], { timeoutMs: 180_000 }));
    if (r.code !== 0) throw new Error(`${python} -m pip download failed: ${describe(r)}`);
    return (await readdir(out)).sort();
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

function targetArgs(shorthand: string): string[] {
  const target = parseTargetShorthand(shorthand);
  const platform = shorthand.slice(shorthand.indexOf('-') + 1);
  const minor = target.env.python_version.split('.')[1] ?? '';
  return [
    ...platformTags(platform).flatMap((p) => ['--platform', p]),
    '--python-version', target.env.python_version, '--implementation', 'cp', '--abi', `cp3${minor}`,
  ];
}

for (const py of PYTHONS) {
  test(`pip download on this machine (${py}, no target flags) takes bestWheel's choices for the host's shorthand`, async (t) => {
    const { dir, mixed, order } = await setup();
    const host = await pythonJson<{ minor: number; glibc: string; platform: string }>(py,
      'import json, os, sys, sysconfig; print(json.dumps({"minor": sys.version_info[1], "glibc": os.confstr("CS_GNU_LIBC_VERSION"), "platform": sysconfig.get_platform()}))');
    const glibc = /^glibc (\d+)\.(\d+)/.exec(host.glibc);
    if (!glibc || !host.platform.startsWith('linux-')) return t.fail(`needs a glibc Linux host, found ${host.glibc} on ${host.platform}`);
    const target = parseTargetShorthand(`cp3${host.minor}-manylinux_${glibc[1]}_${glibc[2]}_${host.platform.slice('linux-'.length)}`);
    const picked = await pipDownload(py, dir, []);
    t.log(`${target.name}: pip saved ${picked.join(', ')}`);
    t.deepEqual(picked, [bestWheel(mixed, target), bestWheel(order, target)].sort());
    // A real node ranks manylinux_2_16 above manylinux2010 (glibc 2.12).
    t.is(bestWheel(order, target), 'demo_order-1.0-cp311-cp311-manylinux_2_16_x86_64.whl');
  });

  for (const shorthand of CROSS_TARGETS) {
    test(`pip download --platform … (${py}) for ${shorthand} takes bestWheel's choices`, async (t) => {
      const { dir, mixed, order } = await setup();
      const target = parseTargetShorthand(shorthand);
      const picked = await pipDownload(py, dir, targetArgs(shorthand));
      t.log(`${shorthand}: pip saved ${picked.join(', ')}`);
      const mixedPick = bestWheel(mixed, target);
      t.true(mixedPick !== null && picked.includes(mixedPick), `demo-mixed: pydepot ${mixedPick}, pip ${picked.join(', ')}`);
      const orderPick = bestWheel(order, target);
      if (shorthand === 'cp311-manylinux_2_17_x86_64') {
        // pip's limitation, not a disagreement about nodes: `--platform manylinux2014_x86_64`
        // expands to manylinux2010 and manylinux1 right after it (compatibility_tags.py
        // `_expand_allowed_platforms`), ahead of manylinux_2_16..2_13, so pip download picks
        // the manylinux2010 wheel where pip on a glibc 2.17 node (the host test above) takes
        // manylinux_2_16. The export's pip check must allow for it.
        t.is(orderPick, 'demo_order-1.0-cp311-cp311-manylinux_2_16_x86_64.whl');
        t.true(picked.includes('demo_order-1.0-cp311-cp311-manylinux2010_x86_64.whl'), picked.join(', '));
      } else {
        t.true(orderPick !== null && picked.includes(orderPick), `demo-order: pydepot ${orderPick}, pip ${picked.join(', ')}`);
      }
      t.is(picked.length, 2);
    });
  }
}
