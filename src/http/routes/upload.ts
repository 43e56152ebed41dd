/**
 * POST <repo>/ — the legacy upload API that twine, poetry and uv speak.
 * The route parses the form, the upload pipeline validates it, and the
 * local repository commits it with its audit entry.
 */
import type { Context } from 'koa';
import type { LocalRepository } from '../../repos/local.ts';
import { validateUpload } from '../../upload/pipeline.ts';
import type { AppDeps } from '../deps.ts';
import type { Authorized } from '../middleware/access.ts';
import { parseUploadForm } from '../multipart.ts';

export function uploadRoutes(deps: AppDeps) {
  return {
    /** `target`: where the file is stored (the repository POSTed to, or its uploadTo), resolved before access was granted. */
    async upload(ctx: Context, target: LocalRepository): Promise<void> {
      const { identity } = ctx.state.access as Authorized;
      const form = await parseUploadForm(ctx.req, deps.blobs, { maxFileSize: target.maxFileSize, idleTimeoutMs: deps.bodyIdleTimeoutMs, minBytesPerSecond: deps.bodyMinRate });
      const validated = await validateUpload(form, deps.blobs);
      const result = await target.add(validated, { user: identity?.user ?? null, tokenId: identity?.token?.id ?? null, address: ctx.ip });
      deps.metrics.uploads.inc({ repo: target.name, outcome: result.outcome });
      const { file } = result;
      ctx.state.log = { ...ctx.state.log, upload: { repo: target.name, filename: file.filename, sha256: file.sha256, outcome: result.outcome } };
      ctx.status = 200;
      // warehouse answers an upload with its warnings; an identical re-upload is worth one.
      ctx.body = result.outcome === 'unchanged' ? `File already exists with identical content; nothing changed.\n` : '';
    },
  };
}
