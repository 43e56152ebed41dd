/**
 * `npm run test:pg`: ava on PostgreSQL + S3 with ONE PostgreSQL cluster for
 * the whole run (not a test file: ava runs `*.test.ts`). ava runs each test
 * file in a process of its own, and a cluster of each costs an initdb and a
 * start (~11 s on a busy 2-core machine); here the cluster is started once,
 * named to every test process in PYDEPOT_TEST_PG_URL (test/helpers/postgres.ts
 * then makes each test's databases there), and ava runs with this process's
 * arguments (files, --match, ...) and its stdio.
 *
 * The cluster is stopped and removed however ava ends: its exit code is
 * ours; a SIGINT, SIGTERM or SIGHUP goes on to ava (a second one kills it),
 * and we then exit as the signal says (128 + its number). Killed with
 * SIGKILL, we leave the cluster to the next sweep (its owner.pid is ours).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SHARED_PG_URL_ENV, startCluster, type PgCluster } from './helpers/postgres.ts';

const AVA_CLI = fileURLToPath(new URL('../node_modules/ava/entrypoints/cli.mjs', import.meta.url));
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let cluster: PgCluster | null = null;
let ava: ChildProcess | null = null;
let signalled: NodeJS.Signals | null = null;

function finish(code: number): never {
  try {
    cluster?.destroy();
  } catch (err) {
    process.stderr.write(`test:pg: removing the PostgreSQL cluster failed: ${String(err)}\n`);
  }
  process.exit(signalled ? 128 + constants.signals[signalled] : code);
}

for (const sig of SIGNALS) {
  process.on(sig, () => {
    if (!ava) {
      // Still starting the cluster: stop once it is up (or has failed).
      signalled = sig;
      return;
    }
    // A terminal's ^C reaches ava too (one process group); a kill of this pid does not.
    if (signalled) ava.kill('SIGKILL');
    else ava.kill(sig);
    signalled = sig;
  });
}

// Each ava worker (os.cpus().length at once by default) could hold the 300
// connections a cluster of its own allows: as many for each, within reason.
const workers = Math.max(2, availableParallelism());
try {
  cluster = await startCluster({ maxConnections: Math.min(3000, 300 * workers), sharedBuffers: '128MB' });
} catch (err) {
  process.stderr.write(`test:pg: could not start PostgreSQL: ${err instanceof Error ? err.message : String(err)}\n`);
  finish(1);
}
if (signalled) finish(1);

ava = spawn(process.execPath, [AVA_CLI, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, [SHARED_PG_URL_ENV]: cluster!.url('postgres') },
});
ava.on('error', (err) => {
  process.stderr.write(`test:pg: could not run ava: ${err.message}\n`);
  finish(1);
});
ava.on('exit', (code, sig) => finish(code ?? 128 + (sig ? constants.signals[sig] : 0)));
