/** POST <repo>/ — the legacy upload API that twine, poetry and uv speak. */
import type { Context } from 'koa';
import type { AppDeps } from '../app.ts';
import { parseUploadForm } from '../multipart.ts';

export function uploadRoutes(deps: AppDeps) {
  return {
    async upload(ctx: Context, repoName: string): Promise<void> {
      const repo = deps.registry.uploadTarget(repoName);
      const form = await parseUploadForm(ctx.req, deps.blobs, { maxFileSize: repo.maxFileSize });
      const result = await repo.upload(form, null);
      deps.metrics.uploads.inc({ repo: repo.name, outcome: result.outcome });
      ctx.state.log = { upload: { repo: repo.name, filename: result.file.filename, sha256: result.file.sha256, outcome: result.outcome } };
      ctx.status = 200;
      // warehouse answers an upload with its warnings; an identical re-upload is worth one.
      ctx.body = result.outcome === 'unchanged' ? `File already exists with identical content; nothing changed.\n` : '';
    },
  };
}
