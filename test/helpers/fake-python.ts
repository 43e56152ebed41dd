/**
 * A stand-in for the node's Python in `pydepot wheels build` tests, so a
 * build takes milliseconds and its outcome is the test's choice:
 * - `-c CODE` runs CODE with the real python3 (the environment probe is the
 *   real one), optionally with `platform` replaced;
 * - `-m pip --version` answers like pip;
 * - `-m pip wheel … --wheel-dir DIR SDIST` records the call (arguments and
 *   PIP_* variables) and then, by the sdist's filename, copies the wheel the
 *   test gave into DIR, or prints the lines given and exits 1;
 * - `-m auditwheel repair --wheel-dir DIR WHEEL` records the call and copies
 *   the repaired wheel the test gave into DIR (unless made without auditwheel).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { BuiltDist } from './dists.ts';
import { tempDir } from './server.ts';

export interface FakeBuildCall {
  args: string[];
  /** The PIP_* variables the build saw. */
  pip: Record<string, string>;
  /** Every variable name it saw. */
  names: string[];
}

export interface FakePython {
  /** The executable, for --python. */
  path: string;
  /** `pip wheel` of the sdist named `sdist` writes these wheels. */
  builds(sdist: string, wheels: BuiltDist[]): Promise<void>;
  /** `pip wheel` of the sdist named `sdist` prints these lines on stderr and exits 1. */
  fails(sdist: string, lines: string[]): Promise<void>;
  /** `auditwheel repair` of the wheel named `wheel` writes these wheels. */
  repairs(wheel: string, wheels: BuiltDist[]): Promise<void>;
  /** The `pip wheel` and `auditwheel repair` calls so far. */
  calls(): Promise<FakeBuildCall[]>;
}

const SCRIPT = `
import json, os, shutil, sys
here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
if args[:1] == ['-c']:
    platform = os.path.join(here, 'platform')
    if os.path.exists(platform):
        import io, contextlib
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(args[1], '<probe>', 'exec'), {})
        doc = json.loads(out.getvalue())
        doc['platform'] = json.load(open(platform))
        print(json.dumps(doc))
    else:
        exec(compile(args[1], '<probe>', 'exec'), {})
    sys.exit(0)
if args[:3] == ['-m', 'pip', '--version']:
    print('pip 99.0 from %s (fake)' % here)
    sys.exit(0)
if args[:3] == ['-m', 'pip', 'wheel']:
    with open(os.path.join(here, 'calls.jsonl'), 'a') as f:
        f.write(json.dumps({'args': args, 'pip': {k: v for k, v in os.environ.items() if k.startswith('PIP_')}, 'names': sorted(os.environ)}) + '\\n')
    wheel_dir = args[args.index('--wheel-dir') + 1]
    spec = os.path.join(here, 'builds', os.path.basename(args[-1]))
    # On stderr, like the failure lines: two pipes do not keep their relative order.
    sys.stderr.write('Processing %s\\n' % args[-1])
    if os.path.exists(spec + '.fail'):
        sys.stderr.write(open(spec + '.fail').read())
        sys.exit(1)
    for name in os.listdir(spec):
        shutil.copy(os.path.join(spec, name), wheel_dir)
    print('Successfully built')
    sys.exit(0)
if args[:2] == ['-m', 'auditwheel']:
    if os.path.exists(os.path.join(here, 'no-auditwheel')):
        sys.stderr.write('%s: No module named auditwheel\\n' % sys.executable)
        sys.exit(1)
    if args[2:3] == ['--version']:
        print('auditwheel 99.0 (fake)')
        sys.exit(0)
    with open(os.path.join(here, 'calls.jsonl'), 'a') as f:
        f.write(json.dumps({'args': args, 'pip': {}, 'names': []}) + '\\n')
    wheel_dir = args[args.index('--wheel-dir') + 1]
    spec = os.path.join(here, 'repairs', os.path.basename(args[-1]))
    for name in os.listdir(spec):
        shutil.copy(os.path.join(spec, name), wheel_dir)
    sys.exit(0)
sys.stderr.write('fake python: unexpected arguments %r\\n' % (args,))
sys.exit(2)
`;

/** `platform`: what the probe reports instead of the machine's platform (null: none, as on musl). */
export async function fakePython(t: ExecutionContext, opts: { platform?: string | null; auditwheel?: boolean } = {}): Promise<FakePython> {
  const dir = await tempDir(t, 'pydepot-fake-python-');
  const path = join(dir, 'python');
  await writeFile(join(dir, 'fake.py'), SCRIPT);
  // A shell wrapper, so the real interpreter is found on PATH like any python3.
  await writeFile(path, `#!/bin/sh\nexec python3 "${join(dir, 'fake.py')}" "$@"\n`);
  await chmod(path, 0o755);
  if (opts.platform !== undefined) await writeFile(join(dir, 'platform'), JSON.stringify(opts.platform));
  if (opts.auditwheel === false) await writeFile(join(dir, 'no-auditwheel'), '');
  await mkdir(join(dir, 'builds'));
  return {
    path,
    async builds(sdist, wheels) {
      await mkdir(join(dir, 'builds', sdist), { recursive: true });
      for (const w of wheels) await writeFile(join(dir, 'builds', sdist, w.filename), w.bytes);
    },
    async repairs(wheel, wheels) {
      await mkdir(join(dir, 'repairs', wheel), { recursive: true });
      for (const w of wheels) await writeFile(join(dir, 'repairs', wheel, w.filename), w.bytes);
    },
    async fails(sdist, lines) {
      await writeFile(join(dir, 'builds', `${sdist}.fail`), lines.map((l) => `${l}\n`).join(''));
    },
    async calls() {
      const text = await readFile(join(dir, 'calls.jsonl'), 'utf8').catch(() => '');
      return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as FakeBuildCall);
    },
  };
}
