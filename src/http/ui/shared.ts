/** What the UI's handlers share: the stores and indexes built once per server, and how a page is sent. */
import type { Context } from 'koa';
import type { Config } from '../../config/schema.ts';
import { normalizeName } from '../../pypi/names.ts';
import type { RepoKind } from '../../repos/types.ts';
import type { AppDeps } from '../deps.ts';
import type { Html } from './html.ts';
import { layout, type PageOptions } from './layout.ts';
import type { NameHit, NameIndex } from './names.ts';
import { MetadataReader } from './project-data.ts';
import type { UiRequest, UiRequests } from './request.ts';
import { leavesOf, type UsageCounter } from './usage.ts';
import type { RepoRow } from './views/repos.ts';

export interface Ui {
  deps: AppDeps;
  config: Config;
  requests: UiRequests;
  names: NameIndex;
  usage: UsageCounter;
  metadata: MetadataReader;
}

/** Every UI response: no script but our own, no framing, nothing loaded from elsewhere. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/** The relative path from a UI URL back to /-/ui/: one `../` per slash after it. */
export function rootOf(ctx: Context): string {
  const rest = ctx.path.startsWith('/-/ui/') ? ctx.path.slice('/-/ui/'.length) : '';
  return '../'.repeat(rest.split('/').length - 1);
}

export function sendPage(ctx: Context, req: Pick<UiRequest, 'viewer'>, o: Omit<PageOptions, 'viewer'> & { status?: number; noStore?: boolean }): void {
  ctx.status = o.status ?? 200;
  ctx.type = 'text/html; charset=utf-8';
  // Pages depend on who asks: never kept by a shared cache, revalidated by the browser.
  ctx.set('Cache-Control', o.noStore ? 'no-store' : 'private, no-cache');
  ctx.set('Vary', 'Cookie, Authorization');
  ctx.body = layout({ ...o, viewer: req.viewer });
}

/** The pip index URL of a repository, as this request reached the server. */
export function indexUrl(ctx: Context, ui: Ui, repo: string): string {
  const path = repo === ui.config.defaultRepository ? 'simple/' : `${repo}/simple/`;
  return `${ctx.protocol}://${ctx.host}/${path}`;
}

export function kindOf(ui: Ui, repo: string): RepoKind | null {
  return (ui.config.repositories[repo]?.type as RepoKind | undefined) ?? null;
}

/** The repositories in the order the UI lists them: the default first, then as configured. */
export function repoNames(ui: Ui): string[] {
  const all = Object.keys(ui.config.repositories);
  return [ui.config.defaultRepository, ...all.filter((n) => n !== ui.config.defaultRepository)];
}

export async function repoRow(ui: Ui, name: string, readable: boolean): Promise<RepoRow> {
  const rc = ui.config.repositories[name]!;
  const members = rc.type === 'virtual' ? rc.members : rc.type === 'wheelcache' ? [rc.augments] : [];
  let usage: RepoRow['usage'] = null;
  let note: string | null = null;
  if (readable) {
    if (rc.type === 'virtual') {
      const leaves = await Promise.all(leavesOf(ui.config, name).map((l) => ui.usage.leaf(l)));
      usage = {
        projects: ui.names.count(leavesOf(ui.config, name)),
        files: leaves.reduce((n, u) => n + u.files, 0),
        bytes: leaves.reduce((n, u) => n + u.bytes, 0),
      };
    } else {
      usage = await ui.usage.leaf(name);
      if (rc.type === 'remote') {
        const r = await ui.usage.remote(name);
        note = `${r.projects.toLocaleString('en-US')} project pages cached, listing ${r.listed.toLocaleString('en-US')} files, of which it holds ${r.heldFiles.toLocaleString('en-US')}`;
      }
    }
  }
  return { name, kind: rc.type, members, isDefault: name === ui.config.defaultRepository, usage, note };
}

export const SEARCH_LIMIT = 50;

/**
 * Names matching `q` in the repositories given that the request may read,
 * each hit listing the readable repositories that serve it (a virtual one
 * where any of its members does).
 */
export function search(ui: Ui, req: UiRequest, q: string, within: readonly string[]): NameHit[] {
  const query = normalizeName(q.trim());
  const readable = within.filter((r) => req.canRead(r));
  const leavesByRepo = new Map(readable.map((r) => [r, leavesOf(ui.config, r)]));
  const leaves = [...new Set([...leavesByRepo.values()].flat())];
  return ui.names.search(leaves, query, SEARCH_LIMIT).map((hit) => ({
    ...hit,
    repos: readable.filter((r) => leavesByRepo.get(r)!.some((l) => hit.repos.includes(l))),
  }));
}

export type Handler = (ctx: Context, req: UiRequest) => Promise<void> | void;
export type { Html };
