/**
 * Project URLs have one canonical spelling: the PEP 503 normalised name.
 * Others get a relative 301 (it survives any reverse proxy, and pip caches
 * 301s forever: fine for a name that is canonical forever).
 */
import type { Context } from 'koa';
import { NotFound } from '../errors.ts';
import { isValidProjectName, MAX_NAME_LENGTH, normalizeName } from '../pypi/names.ts';

/** A relative 301 that keeps the query string (`?format=`). */
export function redirect(ctx: Context, relative: string): void {
  ctx.status = 301;
  ctx.set('Location', relative + (ctx.querystring ? `?${ctx.querystring}` : ''));
  ctx.body = `Moved to ${relative}\n`;
}

/**
 * The normalised name when `param` already is one; otherwise answers 404
 * (not a project name) or a 301 to `canonicalUrl(name)`, and returns null.
 */
export function canonicalProject(ctx: Context, param: string, canonicalUrl: (name: string) => string): string | null {
  if (param.length > MAX_NAME_LENGTH) throw new NotFound(`Not a project name: project names are at most ${MAX_NAME_LENGTH} characters, this one has ${param.length}.`);
  if (!isValidProjectName(param)) throw new NotFound(`'${param}' is not a valid project name.`);
  const name = normalizeName(param);
  if (name === param) return name;
  redirect(ctx, canonicalUrl(name));
  return null;
}
