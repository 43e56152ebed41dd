/** GET/HEAD <repo>/files/<sha256>/<filename>[.metadata] */
import type { Context } from 'koa';
import { NotFound } from '../../errors.ts';
import type { AppDeps } from '../deps.ts';
import { sendFile } from '../send-file.ts';

const METADATA_SUFFIX = '.metadata';

export function fileRoutes(deps: AppDeps) {
  return {
    async file(ctx: Context, repoName: string, sha256: string, filename: string): Promise<void> {
      const repo = deps.registry.get(repoName);
      if (filename.endsWith(METADATA_SUFFIX)) {
        const dist = filename.slice(0, -METADATA_SUFFIX.length);
        const meta = await repo.openCoreMetadata(sha256, dist);
        if (!meta) throw new NotFound(`No core metadata file for '${dist}' in repository '${repo.name}'.`);
        // Text, but never compressed or re-encoded: pip checks its sha256.
        return sendFile(ctx, meta, 'application/octet-stream');
      }
      const handle = await repo.openFile(sha256, filename);
      if (!handle) throw new NotFound(`No file '${filename}' with sha256 ${sha256} in repository '${repo.name}'.`);
      await sendFile(ctx, handle);
    },
  };
}
