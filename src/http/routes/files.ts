/** GET/HEAD <repo>/files/<sha256>/<filename>[.metadata] */
import type { Context } from 'koa';
import { NotFound } from '../../errors.ts';
import { parseDistFilename } from '../../pypi/filenames.ts';
import type { FileHandle, Repository } from '../../repos/types.ts';
import type { AppDeps } from '../deps.ts';
import { sendFile, sentBytes } from '../send-file.ts';

const METADATA_SUFFIX = '.metadata';

export function fileRoutes(deps: AppDeps) {
  /** A file body about to be sent counts for the cache statistics (not a HEAD, a 304 or a metadata file). */
  const served = async (ctx: Context, repo: Repository, handle: FileHandle): Promise<void> => {
    if (ctx.method !== 'GET' || (ctx.status !== 200 && ctx.status !== 206)) return;
    let project: string | null;
    try {
      project = parseDistFilename(handle.filename).normalizedName;
    } catch {
      // Upstreams list legacy formats too (.egg, .tar.bz2): their page knows the project.
      project = await repo.fileProject(handle.sha256, handle.filename);
    }
    deps.serveStats.record(repo.name, project, handle.source ?? 'hosted', sentBytes(ctx));
  };

  const offloadPrefix = deps.offloadPrefix ?? null;
  return {
    async file(ctx: Context, repoName: string, sha256: string, filename: string): Promise<void> {
      const repo = deps.registry.get(repoName);
      if (filename.endsWith(METADATA_SUFFIX)) {
        const dist = filename.slice(0, -METADATA_SUFFIX.length);
        const meta = await repo.openCoreMetadata(sha256, dist);
        if (!meta) throw new NotFound(`No core metadata file for '${dist}' in repository '${repo.name}'.`);
        // Text, but never compressed or re-encoded: pip checks its sha256.
        return sendFile(ctx, meta, 'application/octet-stream', offloadPrefix);
      }
      const handle = await repo.openFile(sha256, filename);
      if (!handle) throw new NotFound(`No file '${filename}' with sha256 ${sha256} in repository '${repo.name}'.`);
      await sendFile(ctx, handle, undefined, offloadPrefix);
      await served(ctx, repo, handle);
    },
  };
}
