/**
 * `pydepot cooldown allow | list | revoke`: exemptions from the cooldown of
 * remote (and virtual) repositories. They are written to the database the
 * server reads, with an audit entry each; a running server applies a change
 * at its next page request, and an exemption ends by itself at its `--until`.
 */
import { randomBytes } from 'node:crypto';
import picomatch from 'picomatch';
import type { Config } from '../config/schema.ts';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import { isValidVersion } from '../pypi/versions.ts';
import { isGlob } from '../repos/cooldown.ts';
import { normalizePattern } from '../repos/confusion.ts';
import type { Storage } from '../storage/open.ts';
import type { CooldownExemptionRow } from '../storage/types.ts';
import { parseDate, parseDuration } from '../time.ts';
import { cliActor, printErr, printOut, UsageError, withStorage, type CommonOptions, type Io } from './context.ts';

const PATTERN = /^[A-Za-z0-9._\-*?[\]!]+$/;

/** `name`, `glob` or `name==version` → what is stored. */
function parseTarget(text: string): { project: string; version: string | null } {
  const [name = '', version, extra] = text.split('==');
  if (extra !== undefined) throw new UsageError(`'${text}': expected NAME, GLOB or NAME==VERSION`);
  if (version !== undefined && !isValidVersion(version.trim())) throw new UsageError(`'${text}': '${version}' is not a PEP 440 version`);
  if (isGlob(name)) {
    if (!PATTERN.test(name)) throw new UsageError(`'${name}' is not a name pattern (letters, digits, '-', '_', '.', and the glob characters * ? [ ] !)`);
    if (version !== undefined) throw new UsageError(`'${text}': a version goes with one project name, not a pattern`);
    return { project: normalizePattern(name), version: null };
  }
  if (!isValidProjectName(name)) throw new UsageError(`'${name}' is not a project name`);
  return { project: normalizeName(name), version: version === undefined ? null : version.trim() };
}

/** `--until`: a duration from now (`3d`, `12h`) or a later date. */
function parseUntil(text: string, now: Date): string {
  const ms = parseDuration(text);
  if (ms !== null) return new Date(now.getTime() + ms).toISOString();
  const d = parseDate(text);
  if (!d) throw new UsageError(`--until ${text}: expected a duration such as 3d or 12h, or a date (2026-12-24, 2026-12-24T18:00Z)`);
  if (d.getTime() <= now.getTime()) throw new UsageError(`--until ${text}: that is not in the future`);
  return d.toISOString();
}

function checkRepo(config: Config, repo: string | undefined): string | null {
  if (repo === undefined) return null;
  const rc = config.repositories[repo];
  if (!rc) throw new UsageError(`no repository named '${repo}'. Configured: ${Object.keys(config.repositories).join(', ')}`);
  if (rc.type === 'local') throw new UsageError(`'${repo}' is a local repository, whose files are never delayed: name a remote or virtual one`);
  return repo;
}

/**
 * Is any project pydepot knows (hosted, in a remote's page cache or its
 * upstream's project list) named by the pattern? Read from storage only: the
 * upstream is not asked.
 */
async function anyKnownProject(storage: Storage, config: Config, covers: (name: string) => boolean): Promise<boolean> {
  for (const [name, rc] of Object.entries(config.repositories)) {
    if (rc.type === 'local' && (await storage.store.listProjects(name)).some((p) => covers(p.name))) return true;
    if (rc.type !== 'remote') continue;
    for (const list of [storage.remoteStore.cachedProjects.bind(storage.remoteStore), storage.remoteStore.rootNames.bind(storage.remoteStore)]) {
      for (let after = '', batch: string[]; (batch = await list(name, after, 5000)).length > 0; after = batch.at(-1)!) {
        if (batch.some(covers)) return true;
      }
    }
  }
  return false;
}

function describeTarget(e: Pick<CooldownExemptionRow, 'project' | 'version'>): string {
  return e.version === null ? e.project : `${e.project}==${e.version}`;
}

export async function cooldownAllow(target: string, opts: CommonOptions & { until: string; reason: string; repo?: string }, io: Io): Promise<void> {
  const now = new Date();
  const { project, version } = parseTarget(target);
  const until = parseUntil(opts.until, now);
  const reason = opts.reason.trim();
  if (reason === '') throw new UsageError('--reason: say why (it is kept in the audit trail)');
  await withStorage(opts, io, async (storage, config) => {
    const repo = checkRepo(config, opts.repo);
    const covers = isGlob(project) ? picomatch(project, { dot: true }) : (n: string) => n === project;
    if (!(await anyKnownProject(storage, config, covers))) {
      printErr(io, `warning: no project pydepot knows (hosted, or cached from an upstream) ${isGlob(project) ? 'matches' : 'is named'} '${project}'; the exemption applies once one is`);
    }
    const id = randomBytes(6).toString('hex');
    const actor = cliActor();
    await storage.cooldown.add({ id, project, version, repo, until, reason, createdAt: now.toISOString(), createdBy: actor.user ?? 'anonymous' }, actor);
    printOut(io, `exemption ${id}: ${describeTarget({ project, version })}${version === null ? ' (every version)' : ''} through ${repo ?? 'every repository'}, until ${until}`);
  });
}

type ExemptionState = 'active' | 'expired' | 'revoked';

function stateOf(e: CooldownExemptionRow, now: number): ExemptionState {
  if (e.revokedAt !== null) return 'revoked';
  return Date.parse(e.until) <= now ? 'expired' : 'active';
}

export async function cooldownList(opts: CommonOptions & { json?: boolean; all?: boolean }, io: Io): Promise<void> {
  const now = Date.now();
  await withStorage(opts, io, async (storage) => {
    const rows = (await storage.cooldown.list())
      .map((e) => ({ ...e, state: stateOf(e, now) }))
      .filter((e) => opts.all || e.state === 'active');
    if (opts.json) return printOut(io, JSON.stringify(rows, null, 2));
    if (rows.length === 0) return printOut(io, opts.all ? 'No cooldown exemptions.' : 'No cooldown exemption in force (--all lists ended ones).');
    for (const e of rows) {
      const ended = e.state === 'revoked' ? `  revoked ${e.revokedAt} by ${e.revokedBy}` : '';
      printOut(io, `${e.id}  ${e.state}  ${describeTarget(e)}  ${e.repo ?? '*'}  until ${e.until}  by ${e.createdBy}${ended}  — ${e.reason}`);
    }
  });
}

export async function cooldownRevoke(id: string, opts: CommonOptions, io: Io): Promise<void> {
  await withStorage(opts, io, async (storage) => {
    const revoked = await storage.cooldown.revoke(id, new Date().toISOString(), cliActor());
    if (!revoked) {
      const known = (await storage.cooldown.list()).find((e) => e.id === id);
      throw new UsageError(known ? `exemption ${id} was already revoked` : `no cooldown exemption with id '${id}' (see pydepot cooldown list --all)`);
    }
    printOut(io, `revoked exemption ${id} (${describeTarget(revoked)} through ${revoked.repo ?? 'every repository'})`);
  });
}
