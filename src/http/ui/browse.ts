/** The pages anyone who may read sees: repositories and search, a repository, a project, cache statistics, squats. */
import type { Context } from 'koa';
import { LRUCache } from 'lru-cache';
import { BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized } from '../../errors.ts';
import type { IndexFile } from '../../pypi/pages.ts';
import { canonicalVersion, versionsEqual } from '../../pypi/versions.ts';
import type { AttributedPage } from '../../repos/types.ts';
import { canonicalProject } from '../canonical.ts';
import { renderDescription } from './description.ts';
import type { Html } from './html.ts';
import { buildProjectData } from './project-data.ts';
import type { UiRequest } from './request.ts';
import { indexUrl, kindOf, repoNames, repoRow, rootOf, search, SEARCH_LIMIT, sendPage, type Ui } from './shared.ts';
import { leavesOf } from './usage.ts';
import { projectPage } from './views/project.ts';
import { homePage, MAX_QUERY, repoPage, searchResults } from './views/repos.ts';
import { squatsPage, statsPage } from './views/stats.ts';

const NAMES_PER_PAGE = 100;

/** One query parameter as a string ('' when absent); a repeated one is refused. */
function param(ctx: Context, key: string): string {
  const v = ctx.query[key];
  if (Array.isArray(v)) throw new BadRequest(`'${key}' is given more than once.`);
  return v ?? '';
}

function searchText(ctx: Context): string {
  const q = param(ctx, 'q');
  if (q.length > MAX_QUERY) throw new BadRequest(`Search text is at most ${MAX_QUERY} characters; this one has ${q.length}.`);
  return q;
}

/** The same refusal the index gives (401 without credentials, 403 with the wrong ones). */
export function requireRead(ui: Ui, req: UiRequest, repo: string): void {
  if (!ui.config.repositories[repo]) throw new NotFound(`No repository named '${repo}'.`);
  const d = ui.deps.access.decide(req.identity, { action: 'read', repo, storedIn: repo });
  if (!d.allow) throw d.status === 401 ? new Unauthorized(d.reason) : new Forbidden(d.reason);
}

export function browseHandlers(ui: Ui) {
  // Project pages rendered, by repository, project, version and change token.
  const rendered = new LRUCache<string, Html>({ maxSize: 32 * 1024 * 1024, sizeCalculation: (h) => h.text.length + 100 });

  const results = (ctx: Context, req: UiRequest, q: string, within: readonly string[]): Html | null => {
    if (q === '') return null;
    const root = rootOf(ctx);
    if (q.trim() === '') return searchResults({ root, q, hits: [], limit: SEARCH_LIMIT, tooShort: true });
    return searchResults({ root, q, hits: search(ui, req, q, within), limit: SEARCH_LIMIT, tooShort: false });
  };

  return {
    async home(ctx: Context, req: UiRequest): Promise<void> {
      const q = searchText(ctx);
      const leaves = [...new Set(repoNames(ui).flatMap((r) => (req.canRead(r) ? leavesOf(ui.config, r) : [])))];
      await ui.names.refresh(leaves);
      const repos = await Promise.all(repoNames(ui).map((name) => repoRow(ui, name, req.canRead(name))));
      sendPage(ctx, req, { title: q ? `Search: ${q}` : 'Repositories', root: '', section: 'repos', body: homePage({ repos, q, results: results(ctx, req, q, repoNames(ui)), signedIn: req.identity !== null }) });
    },

    async repository(ctx: Context, req: UiRequest, repo: string): Promise<void> {
      requireRead(ui, req, repo);
      await ui.names.refresh(leavesOf(ui.config, repo));
      const q = searchText(ctx);
      const after = param(ctx, 'after');
      if (after.length > 200) throw new BadRequest('Not a project name to list after.');
      const listed = ui.names.list(leavesOf(ui.config, repo), after, NAMES_PER_PAGE);
      const rc = ui.config.repositories[repo]!;
      sendPage(ctx, req, {
        title: repo, root: '../', section: 'repos',
        body: repoPage({
          row: await repoRow(ui, repo, true), indexUrl: indexUrl(ctx, ui, repo), isPublic: ui.deps.access.isPublic(repo), q,
          results: results(ctx, req, q, [repo]), names: listed.names, next: listed.more ? listed.names.at(-1)!.name : null,
          remote: rc.type === 'remote' ? { url: rc.url, offline: rc.offline } : null,
        }),
      });
    },

    async project(ctx: Context, req: UiRequest, repoName: string, projectParam: string, versionParam: string | null): Promise<void> {
      requireRead(ui, req, repoName);
      const name = canonicalProject(ctx, projectParam, (n) => (versionParam === null ? `../${n}/` : `../../${n}/${encodeURIComponent(versionParam)}/`));
      if (name === null) return;
      if (versionParam !== null && versionParam.length > 200) throw new NotFound('Not a version.');
      const { deps } = ui;
      const wait = deps.misses.retryAfter(ctx.ip);
      if (wait > 0) throw new TooManyRequests(`Too many requests for projects that do not exist from ${ctx.ip}; try again in ${wait} s.`, wait);
      const repo = deps.registry.get(repoName);
      const token = await repo.projectVersion(name);
      if (token === null) {
        deps.misses.miss(ctx.ip, name);
        throw new NotFound(`Project '${name}' is not in repository '${repo.name}'.`);
      }
      const root = versionParam === null ? '../../' : '../../../';
      const key = `${repo.name}\u0000${name}\u0000${versionParam ?? ''}\u0000${indexUrl(ctx, ui, repo.name)}\u0000${token}`;
      let body = rendered.get(key);
      if (!body) {
        const attributed: AttributedPage | null = repo.attributedPage
          ? await repo.attributedPage(name)
          : await repo.projectPage(name).then((page) => page && { page, servedBy: new Map<string, string>() });
        if (!attributed) throw new NotFound(`Project '${name}' is not in repository '${repo.name}'.`);
        const data = buildProjectData(attributed.page, (f: IndexFile) => attributed.servedBy.get(f.filename) ?? repo.name, (r) => kindOf(ui, r));
        let version = data.latest;
        if (versionParam !== null) {
          const found = data.versions.find((v) => versionsEqual(v.version, versionParam));
          if (!found) throw new NotFound(`Project '${name}' has no version '${versionParam}' in repository '${repo.name}'.`);
          version = found.version;
        }
        const files = version === null ? [] : (data.byVersion.get(canonicalVersion(version) ?? version) ?? []);
        const meta = await ui.metadata.read(repo, name, files);
        const description = meta.metadata?.description?.trim() ? renderDescription(meta.metadata.description, meta.metadata.descriptionContentType) : null;
        body = projectPage({
          root, repo: repo.name, name, displayName: meta.metadata?.name ?? attributed.page.displayName, version, versions: data.versions, files,
          otherFiles: data.otherFiles, metadata: meta.metadata, metadataNote: meta.note, description, indexUrl: indexUrl(ctx, ui, repo.name),
          isPublic: deps.access.isPublic(repo.name), status: attributed.page.status ?? null,
        });
        // A page whose metadata could not be fetched this time is not kept: the next view tries again.
        if (meta.complete) rendered.set(key, body);
      }
      sendPage(ctx, req, { title: `${name}${versionParam ? ` ${versionParam}` : ''}`, root, section: 'repos', body });
    },

    async stats(ctx: Context, req: UiRequest): Promise<void> {
      const s = ui.deps.serveStats;
      const visible = (repo: string) => req.canRead(repo);
      const caches = await Promise.all(Object.entries(ui.config.repositories)
        .filter(([name, rc]) => rc.type === 'remote' && visible(name))
        .map(async ([name]) => {
          const u = await ui.usage.remote(name);
          return { repo: name, pages: u.projects, listed: u.listed, held: u.heldFiles, bytes: u.bytes };
        }));
      sendPage(ctx, req, {
        title: 'Cache statistics', root: '', section: 'stats',
        body: statsPage({ since: s.since, bySource: s.bySource(visible), byRepo: s.byRepo(visible), top: s.top(10, visible), caches }),
      });
    },

    async squats(ctx: Context, req: UiRequest): Promise<void> {
      // The report names internal projects: for those who may read every hosted repository anyway.
      const locals = Object.entries(ui.config.repositories).filter(([, rc]) => rc.type === 'local').map(([name]) => name);
      const visible = locals.every((r) => req.canRead(r));
      sendPage(ctx, req, {
        title: 'Squatted names', root: '', section: 'squats', status: visible ? 200 : req.identity ? 403 : 401,
        body: squatsPage({ records: visible ? await ui.deps.squats.listSquats() : [], visible }),
      });
    },
  };
}
