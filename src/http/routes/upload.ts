/**
 * POST <repo>/ — the legacy upload API that twine, poetry and uv speak.
 * The route parses the form, the upload pipeline validates it, and the
 * repository (local, or a wheel cache with rules of its own) commits it
 * with its audit entry.
 */
import type { Context } from 'koa';
import type { UploadTarget } from '../../repos/types.ts';
import { validateUpload } from '../../upload/pipeline.ts';
import type { AppDeps } from '../deps.ts';
import type { Authorized } from '../middleware/access.ts';
import { parseUploadForm } from '../multipart.ts';

export function uploadRoutes(deps: AppDeps) {
  return {
    /** `target`: where the file is stored (the repository POSTed to, or its uploadTo), resolved before access was granted. */
    async upload(ctx: Context, target: UploadTarget): Promise<void> {
      const { identity } = ctx.state.access as Authorized;
      const form = await parseUploadForm(ctx.req, deps.blobs, { maxFileSize: target.maxFileSize, idleTimeoutMs: deps.bodyIdleTimeoutMs, minBytesPerSecond: deps.bodyMinRate });
      const validated = await validateUpload(form, deps.blobs);
      const result = await target.add(validated, { user: identity?.user ?? null, tokenId: identity?.token?.id ?? null, address: ctx.ip });
      deps.metrics.uploads.inc({ repo: target.name, outcome: result.outcome });
      const { file } = result;
      ctx.state.log = { ...ctx.state.log, upload: { repo: target.name, filename: file.filename, sha256: file.sha256, outcome: result.outcome } };
      ctx.status = 200;
      // warehouse answers an upload with its warnings; an identical re-upload is worth one.
      ctx.body = result.note ? `${result.note}\n` : '';
    },
  };
}
