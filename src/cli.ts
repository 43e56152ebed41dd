/**
 * `pydepot serve | yank | unyank | confusion report`. Each command loads the config, does one
 * thing, and prints what a person needs to know.
 */
import { Command } from 'commander';
import { DEFAULT_CONFIG_FILE, loadConfig } from './config/load.ts';
import { Registry } from './repos/registry.ts';
import { VirtualRepository } from './repos/virtual.ts';
import { normalizeName } from './pypi/names.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { openStorage, startServer } from './server.ts';

interface CommonOptions {
  config?: string;
  storage?: string;
}

function configFrom(opts: CommonOptions & { listen?: string }) {
  return loadConfig(opts.config ?? DEFAULT_CONFIG_FILE, { listen: opts.listen, storage: opts.storage });
}

async function serve(opts: CommonOptions & { listen?: string }): Promise<void> {
  const running = await startServer(configFrom(opts));
  const shutdown = (signal: string): void => {
    running.logger.info({ signal }, 'finishing requests in flight, then stopping');
    running.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function yank(yanked: boolean, repoName: string, project: string, version: string, opts: CommonOptions & { reason?: string }): Promise<void> {
  const config = configFrom(opts);
  const storage = await openStorage(config.storage);
  const { store } = storage;
  const registry = new Registry(config, { ...storage, logger: createLogger('warn', 'stderr'), metrics: createMetrics() });
  try {
    const repo = registry.local(repoName);
    const name = normalizeName(project);
    const { matched, changed } = repo.setYanked(name, version, yanked, opts.reason ?? null);
    if (matched === 0) throw new Error(`${name} ${version} is not in repository '${repoName}'`);
    const verb = yanked ? 'yanked' : 'un-yanked';
    console.log(changed > 0 ? `${verb} ${name} ${version} in ${repoName} (${changed} file${changed === 1 ? '' : 's'})` : `${name} ${version} in ${repoName} was already ${verb}`);
  } finally {
    await registry.close();
    store.close();
  }
}

/**
 * Lists upstream projects that squat internal names. Checks first (honouring
 * each remote's cache TTL) that the remotes were asked about every hosted name.
 */
async function confusionReport(opts: CommonOptions & { check: boolean; json?: boolean }): Promise<void> {
  const config = configFrom(opts);
  const storage = await openStorage(config.storage);
  const logger = createLogger('warn', 'stderr');
  const registry = new Registry(config, { ...storage, logger, metrics: createMetrics() });
  try {
    if (opts.check) {
      for (const repo of registry.all()) {
        if (!(repo instanceof VirtualRepository)) continue;
        const { checked, failed } = await repo.checkUpstreams();
        console.error(`${repo.name}: checked ${checked} internal name${checked === 1 ? '' : 's'} upstream${failed.length ? `; could not check ${failed.length}:` : ''}`);
        for (const f of failed) console.error(`  ${f}`);
      }
    }
    const squats = storage.squats.listSquats();
    if (opts.json) {
      console.log(JSON.stringify(squats, null, 2));
      return;
    }
    if (squats.length === 0) {
      console.log('No upstream project uses an internal name.');
      return;
    }
    for (const s of squats) {
      const why = s.reason === 'hosted' ? 'hosted internally' : 'matches an internal pattern';
      console.log(`${s.project}  on ${s.remote}  (${why}; never merged)  first seen ${s.firstSeen}, last seen ${s.lastSeen}`);
      for (const v of s.versions) console.log(`  ${v.version}  first seen ${v.firstSeen}`);
    }
  } finally {
    await registry.close();
    storage.store.close();
  }
}

export function buildCli(): Command {
  const program = new Command('pydepot')
    .description('A private Python package index: hosts twine uploads and serves pip.')
    .showHelpAfterError();
  const common = (c: Command) =>
    c.option('-c, --config <file>', 'config file (YAML)', undefined)
      .option('--storage <dir>', 'storage folder (overrides the config and PYDEPOT_STORAGE)');

  common(program.command('serve').description('serve the index over HTTP'))
    .option('--listen <host:port>', 'address to listen on (overrides the config and PYDEPOT_LISTEN)')
    .action(serve);

  common(program.command('yank').description('yank a release (PEP 592): pip skips it unless pinned with ==')
    .argument('<repo>').argument('<project>').argument('<version>'))
    .option('--reason <text>', 'why, shown to pip users')
    .action((repo: string, project: string, version: string, opts) => yank(true, repo, project, version, opts));

  common(program.command('unyank').description('undo a yank')
    .argument('<repo>').argument('<project>').argument('<version>'))
    .action((repo: string, project: string, version: string, opts) => yank(false, repo, project, version, opts));

  const confusion = program.command('confusion').description('dependency confusion: internal names that upstreams also hold');
  common(confusion.command('report').description('list upstream projects that use internal names, with the versions seen and when'))
    .option('--no-check', 'only print what was recorded; do not ask the remotes')
    .option('--json', 'print JSON')
    .action(confusionReport);

  return program;
}
