/**
 * `pydepot serve | yank | unyank | delete | audit | user … | token … | confusion report | removed report | cooldown … | wheelhouse export | wheelhouse import | prefetch | wheels build | scrub | gc | doctor | storage migrate`.
 * Each command loads the config, does one thing, and prints what a person needs to know.
 */
import { Command, CommanderError } from 'commander';
import { tokenCreate, tokenList, tokenRevoke, userAdd, userList, userPasswd, userRemove } from './commands/accounts.ts';
import { cooldownAllow, cooldownList, cooldownRevoke } from './commands/cooldown.ts';
import { configFrom, printErr, printOut, withRegistry, type CommonOptions, type Io } from './commands/context.ts';
import { doctor } from './commands/doctor.ts';
import { gc, scrub } from './commands/maintenance.ts';
import { auditReport, deleteRelease, yank } from './commands/repository-admin.ts';
import { prefetch } from './commands/prefetch.ts';
import { removedReport } from './commands/removed-report.ts';
import { storageMigrate } from './commands/storage-migrate.ts';
import { wheelhouseExport } from './commands/wheelhouse.ts';
import { wheelhouseImport } from './commands/wheelhouse-import.ts';
import { wheelsBuild } from './commands/wheels.ts';
import { ConfigError } from './errors.ts';
import { startPrimary, workerNumber } from './cluster.ts';
import { createLogger } from './log.ts';
import { startServer } from './server.ts';

export { processIo, type Io } from './commands/context.ts';

/**
 * How a command that threw ends: its exit code (a ConfigError 78, anything
 * else 1; commander's own usage and help exits keep theirs) and the line for
 * stderr (null when commander has printed its message already). main.ts
 * exits with it; the tests' in-process runner reports it the same way.
 */
export function failure(err: unknown): { code: number; message: string | null } {
  if (err instanceof CommanderError) return { code: err.exitCode, message: null };
  const message = err instanceof Error ? err.message : String(err);
  return { code: err instanceof ConfigError ? 78 : 1, message: `pydepot: ${message}` };
}

async function serve(opts: CommonOptions & { listen?: string }, io: Io): Promise<void> {
  const config = configFrom(opts, io);
  const worker = workerNumber();
  // The handlers go in before start-up: a SIGTERM that arrives while the
  // server is still starting (a busy machine can take seconds; a primary
  // stopping right after it forked a worker again) must stop it cleanly once
  // it has started, not kill it with the default action mid-way.
  let stopRunning: ((signal: string) => void) | null = null;
  let pending: string | null = null;
  const onSignal = (signal: string): void => {
    if (stopRunning) stopRunning(signal);
    else pending ??= signal;
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  if (config.workers > 1 && worker === null) {
    const primary = await startPrimary(config, createLogger(config.log.level));
    stopRunning = () => {
      primary.stop().then(() => process.exit(0), () => process.exit(1));
    };
    if (pending !== null) stopRunning(pending);
    await primary.ready;
    return;
  }
  // A worker leaves tmp/ alone at start: its primary cleaned it, and its siblings are writing there.
  const running = await startServer(config, worker === null ? {} : { worker, cleanTemp: false });
  stopRunning = (signal) => {
    running.logger.info({ signal }, 'finishing requests in flight, then stopping');
    running.stop().then(() => process.exit(0), () => process.exit(1));
  };
  if (pending !== null) stopRunning(pending);
}

/**
 * Lists upstream projects that squat internal names. Checks first (honouring
 * each remote's cache TTL) that the remotes were asked about every hosted name.
 */
async function confusionReport(opts: CommonOptions & { check: boolean; json?: boolean }, io: Io): Promise<void> {
  await withRegistry(opts, io, async (registry) => {
    if (opts.check) {
      for (const { repo, checked, failed } of await registry.squats.checkAll()) {
        printErr(io, `${repo}: checked ${checked} internal name${checked === 1 ? '' : 's'} upstream${failed.length ? `; could not check ${failed.length}:` : ''}`);
        for (const f of failed) printErr(io, `  ${f}`);
      }
    }
    // The check's pages are recorded in the background, as they are fetched.
    await registry.squats.idle();
    const squats = await registry.squats.report();
    if (opts.json) return printOut(io, JSON.stringify(squats, null, 2));
    if (squats.length === 0) return printOut(io, 'No upstream project uses an internal name.');
    for (const s of squats) {
      const why = s.reason === 'hosted' ? 'hosted internally' : 'matches an internal pattern';
      printOut(io, `${s.project}  on ${s.remote}  (${why}; never merged)  first seen ${s.firstSeen}, last seen ${s.lastSeen}`);
      for (const v of s.versions) printOut(io, `  ${v.version}  first seen ${v.firstSeen}`);
    }
  });
}

/**
 * The `pydepot` program, writing through `io`. Commander throws instead of
 * exiting (help, usage errors: a CommanderError for failure()), so the
 * program can run in-process too; set before the subcommands, which inherit it.
 */
export function buildCli(io: Io): Command {
  const program = new Command('pydepot')
    .description('A private Python package index: hosts twine uploads and serves pip.')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError();
  const common = (c: Command) =>
    c.option('-c, --config <file>', 'config file (YAML)', undefined)
      .option('--storage <dir>', 'storage folder (overrides the config and PYDEPOT_STORAGE)');

  common(program.command('serve').description('serve the index over HTTP, or HTTPS with the tls key'))
    .option('--listen <host:port>', 'address to listen on (overrides the config and PYDEPOT_LISTEN)')
    .action((opts) => serve(opts, io));

  common(program.command('yank').description('yank a release (PEP 592): pip skips it unless pinned with ==')
    .argument('<repo>').argument('<project>').argument('<version>'))
    .option('--reason <text>', 'why, shown to pip users')
    .action((repo: string, project: string, version: string, opts) => yank(true, repo, project, version, opts, io));

  common(program.command('unyank').description('undo a yank')
    .argument('<repo>').argument('<project>').argument('<version>'))
    .action((repo: string, project: string, version: string, opts) => yank(false, repo, project, version, opts, io));

  common(program.command('delete').description('delete the files of a release for good (pip pinned to it will fail; prefer yank)')
    .argument('<repo>').argument('<project>').argument('<version>'))
    .option('--file <filename>', 'only this file of the release')
    .action((repo: string, project: string, version: string, opts) => deleteRelease(repo, project, version, opts, io));

  common(program.command('audit').description('who uploaded, yanked, un-yanked or deleted which file, or allowed or revoked a cooldown exemption, and when'))
    .option('--repo <name>', 'only this repository')
    .option('--since <when>', 'only since this date (2026-11-30) or for this long back (7d, 12h)')
    .option('--json', 'print JSON')
    .action((opts) => auditReport(opts, io));

  const user = program.command('user').description('users who may read or upload (see read/upload in the config)');
  common(user.command('add').description('add a user; the password is asked for, or read from stdin').argument('<name>'))
    .option('--password-stdin', 'read the password from standard input')
    .action((name: string, opts) => userAdd(name, opts, io));
  common(user.command('passwd').description("change a user's password").argument('<name>'))
    .option('--password-stdin', 'read the password from standard input')
    .action((name: string, opts) => userPasswd(name, opts, io));
  common(user.command('remove').description('remove a user and their API tokens').argument('<name>'))
    .action((name: string, opts) => userRemove(name, opts, io));
  common(user.command('list').description('list users'))
    .option('--json', 'print JSON')
    .action((opts) => userList(opts, io));

  const token = program.command('token').description('API tokens: the password for username __token__');
  common(token.command('create').description('create an API token and print it (once)'))
    .requiredOption('--user <name>', 'the owner; the token never has more rights than they do')
    .option('--repo <name...>', 'only these repositories (repeatable; default: all the owner may use)')
    .option('--scope <scope>', 'read, or upload (which includes read)', 'read')
    .option('--expires <when>', 'a duration (90d, 12h, 2w, 1y), a date, or never', 'never')
    .option('--description <text>', 'what it is for, shown by token list')
    .action((opts) => tokenCreate(opts, io));
  common(token.command('list').description('list API tokens (never their text)'))
    .option('--user <name>', "only this user's")
    .option('--json', 'print JSON')
    .action((opts) => tokenList(opts, io));
  common(token.command('revoke').description('revoke an API token; the next request with it is refused').argument('<id>'))
    .action((id: string, opts) => tokenRevoke(id, opts, io));

  const confusion = program.command('confusion').description('dependency confusion: internal names that upstreams also hold');
  common(confusion.command('report').description('list upstream projects that use internal names, with the versions seen and when'))
    .option('--no-check', 'only print what was recorded; do not ask the remotes')
    .option('--json', 'print JSON')
    .action((opts) => confusionReport(opts, io));

  const cooldown = program.command('cooldown').description('exemptions from the cooldown of remote repositories (audited, ending by themselves)');
  common(cooldown.command('allow').description('list upstream files however young: a project, a glob of projects, or one version (NAME==VERSION)')
    .argument('<target>', 'NAME, GLOB (acme-*) or NAME==VERSION'))
    .requiredOption('--until <when>', 'when it ends: a duration (3d, 12h) or a date (2026-12-24, 2026-12-24T18:00Z)')
    .requiredOption('--reason <text>', 'why, kept in the audit trail')
    .option('--repo <name>', 'only through this remote or virtual repository (default: every one)')
    .action((target: string, opts) => cooldownAllow(target, opts, io));
  common(cooldown.command('list').description('list the exemptions in force'))
    .option('--all', 'also those that expired or were revoked')
    .option('--json', 'print JSON')
    .action((opts) => cooldownList(opts, io));
  common(cooldown.command('revoke').description('end an exemption now').argument('<id>'))
    .action((id: string, opts) => cooldownRevoke(id, opts, io));

  const removed = program.command('removed').description('upstream removals: files the upstream deleted or quarantined, no longer served');
  common(removed.command('report').description('list the files pydepot served (or holds cached) that their upstream has since removed, with when it was noticed and the last download'))
    .option('--repo <name>', 'only this remote repository')
    .option('--since <when>', 'only removals noticed since this date (2026-11-30) or for this long back (7d, 12h)')
    .option('--all', 'also the removed files pydepot never served or cached')
    .option('--json', 'print JSON')
    .action((opts) => removedReport(opts, io));

  const repeat = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
  const wheelhouse = program.command('wheelhouse').description('wheelhouses: what the nodes of a cluster install from, offline');
  /** What `wheelhouse export` and `prefetch` both resolve: requirements or a lock, a repository, targets. */
  const resolution = (c: Command) => common(c)
    .option('-r, --requirement <file>', 'requirements file (repeatable); its -r/-c lines are read relative to it. A file named pylock.toml or pylock.<name>.toml is a lock, as with --lock', repeat)
    .option('--constraint <file>', "constraints file, as pip's -c (repeatable)", repeat)
    .option('--lock <file>', 'a PEP 751 lock (pylock.toml): its files for each target, exactly, instead of resolving; not with -r/--constraint/--pre')
    .option('--repo <name>', 'repository to resolve in (default: the defaultRepository)')
    .option('--target <shorthand>', 'a target such as cp311-manylinux_2_17_x86_64 (repeatable)', repeat)
    .option('--target-file <file>', 'a target printed on the node (the README gives the one-liner; repeatable)', repeat)
    .option('--allow-sdist', 'take an sdist where a release has no wheel for a target (the node then builds it)')
    .option('--pre', 'allow pre-releases everywhere');
  resolution(wheelhouse.command('export').description('resolve requirements for each target as pip there would (or take a pylock.toml as it is), and write one verified, reproducible zip'))
    .requiredOption('-o, --output <file>', 'the zip to write (written beside it, then renamed)')
    .option('--resolved-at <when>', "the manifest's resolvedAt: now, a date, or seconds since 1970 (default: SOURCE_DATE_EPOCH, else none)")
    .option('--json', 'print a JSON summary instead of the table')
    .action((opts) => wheelhouseExport(opts, io));

  common(wheelhouse.command('import').description('seed a local repository from a wheelhouse zip or folder: every file checked against its lock files and through the upload checks')
    .argument('<zip-or-dir>', "a wheelhouse zip ('wheelhouse export' writes one, or any zip of wheels and sdists), or a folder: the unzipped wheelhouse, or a flat --find-links one"))
    .requiredOption('--repo <name>', 'the local repository to import into')
    .option('--no-check', "do not ask the remotes whether they serve the imported names; read their caches only")
    .option('--json', 'print a JSON summary instead of the table')
    .action((source: string, opts) => wheelhouseImport(source, opts, io));

  resolution(program.command('prefetch').description("the resolution of 'wheelhouse export', then every chosen file and its metadata pulled through the repository (a remote's cache), verified"))
    .option('--json', 'print a JSON summary instead of the table')
    .action((opts) => prefetch(opts, io));

  const wheels = program.command('wheels').description('wheels a node builds for the cluster: over HTTP, with a token; no config or storage');
  wheels.command('build')
    .description("resolve requirements for this node's Python; build each pin that has only an sdist, check it, and upload it (to a wheel cache)")
    .requiredOption('-r, --requirement <file>', 'requirements file (repeatable); its -r/-c lines are read relative to it', repeat)
    .option('--constraint <file>', "constraints file, as pip's -c (repeatable)", repeat)
    .requiredOption('--index <url>', "the index to resolve from and download through, e.g. https://depot.example/pypi/simple/ (build requirements come from it too)")
    .option('--upload-to <url>', "where built wheels go, as twine's repository URL: https://depot.example/cache/")
    .option('--token <token>', 'API token for both URLs (user __token__); default PYDEPOT_TOKEN; user:password in a URL wins')
    .option('--python <executable>', 'the Python to resolve for and build with', 'python3')
    .option('--platform <tag>', "replace the platform the Python reports (a musl Linux reports none): musllinux_1_2_x86_64")
    .option('--pre', 'allow pre-releases everywhere')
    .option('--dry-run', 'resolve and list what would be built; build and upload nothing')
    .option('--no-build-isolation', "pip wheel --no-build-isolation: build requirements must be installed in the Python already")
    .option('--auditwheel', 'repair each wheel tagged linux_<arch> with auditwheel (installed in --python) into a manylinux wheel before checking and uploading it')
    .option('--timeout <seconds>', 'HTTP timeout per request', '60')
    .option('--build-timeout <seconds>', 'time one build may take before it is killed', '3600')
    .option('-v, --verbose', "print each build's output as it comes")
    .option('--json', 'print a JSON summary instead of the table')
    .action((opts) => wheelsBuild(opts, io));

  common(program.command('scrub').description('re-hash every stored blob; quarantine corrupt ones (a remote fetches its copy again; a hosted file must be uploaded again)'))
    .option('--repo <name>', "only the blobs of this repository (repeatable; a virtual one's members)", repeat)
    .option('--rate <size>', 'read at most this many bytes per second (50MiB); default: as fast as the disk goes')
    .option('--json', 'print a JSON summary instead of the table')
    .action((opts) => scrub(opts, io));

  common(program.command('gc').description('remove blobs no row names and temp files left by crashes (safe while the server runs)'))
    .option('--dry-run', 'only count what would be removed')
    .option('--json', 'print JSON')
    .action((opts) => gc(opts, io));

  common(program.command('doctor').description('check the config, TLS certificate, storage, database and upstreams, and say what to fix'))
    .option('--min-free <size>', 'warn with less free space than this', '1GiB')
    .option('--min-free-percent <n>', 'warn with less free space than this share of the filesystem', '5')
    .option('--json', 'print JSON')
    .action((opts) => doctor(opts, io));

  const storage = program.command('storage').description('the depot\'s storage as a whole');
  common(storage.command('migrate').description("copy this embedded depot (the storage folder's SQLite database, and its blobs with --blobs) into PostgreSQL (and S3), verified and resumable; the source is only read"))
    .requiredOption('--to <url>', 'the PostgreSQL database: postgres://user@host:5432/dbname (empty, or the one an interrupted run was copying into)')
    .option('--blobs <url>', 'also copy every blob, its sha256 checked, into s3://BUCKET/PREFIX?endpoint=…&region=…&forcePathStyle=true (default: the blobs stay where they are)')
    .option('--batch-size <rows>', 'rows per transaction', '500')
    .option('--json', 'print a JSON summary instead of the table')
    .action((opts) => storageMigrate(opts, io));

  return program;
}
