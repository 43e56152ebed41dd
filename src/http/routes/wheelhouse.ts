/**
 * POST <repo>/-/wheelhouse — `pydepot wheelhouse export` over HTTP, with the
 * repository's read permission. The body is JSON:
 *   { "requirements": "<requirements.txt text>", "targets": ["cp311-manylinux_2_17_x86_64", …],
 *     "allowSdist": false, "pre": false }
 * or, in place of "requirements", "pylock": "<pylock.toml text>" (PEP 751):
 * the lock's files for each target, found in the repository by name and
 * sha256, with no resolution (src/wheelhouse/plan.ts `planFromLock`). A lock
 * that is not valid TOML or PEP 751 answers 400 with the first problem.
 * Resolution happens before any byte is sent: an impossible set answers 422
 * with every target's reasons as JSON. The zip is built in a temporary file
 * (every file verified against its sha256), then sent whole with its length,
 * so a client never receives a truncated or unverified wheelhouse.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'koa';
import { BadRequest, PayloadTooLarge, Unresolvable } from '../../errors.ts';
import { parsePylock } from '../../resolve/pylock.ts';
import { parseRequirementsFile } from '../../resolve/requirements.ts';
import { parseTargetShorthand } from '../../resolve/tags.ts';
import { exportWheelhouse } from '../../wheelhouse/export.ts';
import { planFromLock, planWheelhouse } from '../../wheelhouse/plan.ts';
import type { AppDeps } from '../deps.ts';

// A requirements file or a lock, not an upload: a megabyte is far more than any.
const MAX_BODY_BYTES = 1024 * 1024;

interface WheelhouseRequest {
  /** Exactly one of the two. */
  input: { requirements: string } | { pylock: string };
  targets: string[];
  allowSdist: boolean;
  pre: boolean;
}

async function readJson(ctx: Context): Promise<unknown> {
  if (!/^application\/json\b/i.test(ctx.get('Content-Type'))) throw new BadRequest('Send the wheelhouse request as application/json.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new PayloadTooLarge(`The wheelhouse request is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadRequest('The wheelhouse request is not valid JSON.');
  }
}

function parseRequest(body: unknown): WheelhouseRequest {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const given = (['requirements', 'pylock'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new BadRequest(`Send either 'requirements' (the text of a requirements file) or 'pylock' (the text of a pylock.toml)${given.length > 1 ? ', not both' : ''}.`);
  }
  const key = given[0]!;
  const text = o[key];
  if (typeof text !== 'string') throw new BadRequest(`'${key}' must be the text of ${key === 'pylock' ? 'a pylock.toml' : 'a requirements file'}.`);
  if (key === 'pylock' && o.pre === true) throw new BadRequest("'pre' does not apply to a lock: it pins every file already.");
  if (!Array.isArray(o.targets) || o.targets.length === 0 || !o.targets.every((t) => typeof t === 'string')) {
    throw new BadRequest("'targets' must be a non-empty list of target shorthands, such as [\"cp311-manylinux_2_17_x86_64\"].");
  }
  return { input: key === 'pylock' ? { pylock: text } : { requirements: text }, targets: o.targets as string[], allowSdist: o.allowSdist === true, pre: o.pre === true };
}

export function wheelhouseRoutes(deps: AppDeps) {
  return {
    async build(ctx: Context, repoName: string): Promise<void> {
      const repo = deps.registry.get(repoName);
      const request = parseRequest(await readJson(ctx));
      const targets = request.targets.map((t) => parseTargetShorthand(t));
      // No `-r`/`-c` includes over HTTP: the server reads no client paths (each is a problem with its line).
      // A lock's `path`s are not read either: its files come from the repository, by name and sha256.
      let plan;
      if ('pylock' in request.input) {
        const lock = parsePylock(request.input.pylock, 'pylock.toml');
        if (lock.packages.length === 0) throw new BadRequest('pylock.toml lists no package to export.');
        plan = await planFromLock(repo, lock, targets, { allowSdist: request.allowSdist });
      } else {
        const parsed = parseRequirementsFile({ name: 'requirements.txt', text: request.input.requirements });
        plan = await planWheelhouse(repo, parsed, targets, { allowSdist: request.allowSdist, pre: request.pre });
      }
      if (plan.failures.length > 0) {
        const first = plan.failures[0]!;
        throw new Unresolvable(`Cannot resolve for ${plan.failures.map((f) => f.target).join(', ')}: ${first.reasons[0] ?? 'the requirements conflict'}`, { failures: plan.failures });
      }
      const out = join(tmpdir(), `pydepot-wheelhouse-${randomBytes(8).toString('hex')}.zip`);
      const result = await exportWheelhouse(plan, repo, out);
      const stream = createReadStream(out);
      // The temp file goes once the response is over, however it ends.
      const cleanup = (): void => void rm(out, { force: true });
      stream.once('close', cleanup);
      ctx.res.once('close', cleanup);
      ctx.status = 200;
      ctx.type = 'application/zip';
      ctx.set('Content-Disposition', 'attachment; filename="wheelhouse.zip"');
      ctx.set('Cache-Control', 'no-store');
      ctx.set('X-Wheelhouse-Sha256', result.sha256);
      ctx.length = result.bytes;
      ctx.body = stream;
    },
  };
}
