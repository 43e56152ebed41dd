/**
 * The first step of `npm test` (not a test file: ava runs `*.test.ts`). It
 * looks for the programs the suites drive and, when some are missing, stops
 * at once with one message that lists them with their install commands,
 * instead of two dozen tests failing one by one.
 *
 * - pip in both Pythons, openssl and PostgreSQL's initdb are always needed:
 *   the oracle tests ask pip's own code (python-oracle.ts), the TLS tests make
 *   a CA with openssl, the PostgreSQL store's tests start throw-away clusters
 *   (test/helpers/postgres.ts; Debian keeps initdb off the PATH).
 * - twine, poetry, and venv (ensurepip) in both Pythons drive the end-to-end
 *   tests; Debian's chromium the web UI's browser tests; Debian's nginx the
 *   sendfileOffload tests. PYDEPOT_OPTIONAL_CLIENTS=1 runs the suites without them: said
 *   here, and each test that needs one logs "SKIPPED: ..." and passes.
 *
 * `.ci/run` installs all of them before `npm test`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { INSTALL_HINTS, optionalClients, run, whyMissing } from './helpers/clients.ts';
import { NGINX_INSTALL, nginxBinary } from './helpers/nginx.ts';

interface Need {
  what: string;
  install: string;
  missing: Promise<string | null>;
}

const PIP_HINTS: Record<string, string> = {
  python3: 'apt-get install -y python3 python3-pip (or `pyenv install 3.11` and `pyenv global 3.11`)',
  '/usr/bin/python3': 'apt-get install -y python3 python3-pip',
};

async function commandMissing(command: string, args: string[]): Promise<string | null> {
  const r = await run(command, args, { timeoutMs: 60_000 });
  return r.code === 0 ? null : (r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`);
}

/** The test helper's own search (test/helpers/postgres.ts): the PATH, then Debian's versioned folders. */
function postgresMissing(): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  if (dirs.some((d) => existsSync(join(d, 'initdb')))) return null;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root) : [];
  return versions.some((v) => existsSync(join(root, v, 'bin', 'initdb'))) ? null : 'initdb not found';
}

const always: Need[] = [
  ...['python3', '/usr/bin/python3'].map((py) => ({ what: `pip in ${py}`, install: PIP_HINTS[py]!, missing: commandMissing(py, ['-m', 'pip', '--version']) })),
  { what: 'openssl', install: 'apt-get install -y openssl', missing: commandMissing('openssl', ['version']) },
  { what: 'PostgreSQL (initdb, pg_ctl)', install: 'apt-get install -y postgresql', missing: Promise.resolve(postgresMissing()) },
];
const clients: Need[] = ['twine', 'poetry', 'python3', '/usr/bin/python3'].map((c) => ({
  what: c === 'twine' || c === 'poetry' ? c : `venv (ensurepip) in ${c}`,
  install: INSTALL_HINTS[c]!,
  missing: whyMissing(c),
}));
// The web UI's browser tests (test/browser/) drive it through playwright-core.
clients.push({ what: 'chromium', install: 'apt-get install -y chromium', missing: commandMissing(process.env.PYDEPOT_CHROMIUM ?? 'chromium', ['--version']) });
// sendfileOffload's tests (test/http/offload.test.ts) put Debian's nginx in front of pydepot.
clients.push({ what: 'nginx', install: NGINX_INSTALL, missing: Promise.resolve(nginxBinary() ? null : 'not found in PATH or /usr/sbin') });

const missing = async (needs: Need[]): Promise<Need[]> => {
  const out: Need[] = [];
  for (const n of needs) if ((await n.missing) !== null) out.push(n);
  return out;
};
const [lackAlways, lackClients] = await Promise.all([missing(always), missing(clients)]);
const line = (n: Need): string => `  - ${n.what}: ${n.install}`;

if (lackAlways.length > 0 || (lackClients.length > 0 && !optionalClients())) {
  const lines = ['npm test: this machine lacks programs the tests need:'];
  lines.push(...lackAlways.map(line), ...lackClients.map(line));
  if (lackClients.length > 0 && !optionalClients()) {
    lines.push(`Install them (.ci/run does), or set PYDEPOT_OPTIONAL_CLIENTS=1 to run without the end-to-end tests that need ${lackClients.map((n) => n.what).join(', ')} (each is then logged as SKIPPED).`);
  }
  if (lackAlways.length > 0) lines.push(`${lackAlways.map((n) => n.what).join(', ')} cannot be skipped: the oracle tests ask pip's own code, the TLS tests make certificates with openssl, the PostgreSQL store's tests start their own clusters.`);
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(1);
}
if (lackClients.length > 0) {
  process.stderr.write(`npm test: PYDEPOT_OPTIONAL_CLIENTS=1: the end-to-end tests that need ${lackClients.map((n) => n.what).join(', ')} are SKIPPED (not installed):\n${lackClients.map(line).join('\n')}\n`);
}
