/** POST <repo>/ — the legacy upload API that twine, poetry and uv speak. */
import type { Context } from 'koa';
import type { Authorized } from '../../auth/access.ts';
import type { AppDeps } from '../app.ts';
import { parseUploadForm } from '../multipart.ts';

export function uploadRoutes(deps: AppDeps) {
  return {
    async upload(ctx: Context): Promise<void> {
      // Access control has already resolved where the file goes (the repository, or its uploadTo).
      const { identity, repo: target } = ctx.state.access as Authorized;
      const repo = deps.registry.local(target);
      const form = await parseUploadForm(ctx.req, deps.blobs, { maxFileSize: repo.maxFileSize });
      const uploader = identity?.user ?? null;
      const result = await repo.upload(form, uploader);
      deps.metrics.uploads.inc({ repo: repo.name, outcome: result.outcome });
      const { file } = result;
      deps.audit.record({
        at: new Date().toISOString(), actor: uploader ?? 'anonymous', tokenId: identity?.token?.id ?? null, address: ctx.ip,
        action: 'upload', repo: repo.name, project: file.project, version: file.version, filename: file.filename, sha256: file.sha256,
        detail: result.outcome,
      });
      ctx.state.log = { ...ctx.state.log, upload: { repo: repo.name, filename: file.filename, sha256: file.sha256, outcome: result.outcome } };
      ctx.status = 200;
      // warehouse answers an upload with its warnings; an identical re-upload is worth one.
      ctx.body = result.outcome === 'unchanged' ? `File already exists with identical content; nothing changed.\n` : '';
    },
  };
}
