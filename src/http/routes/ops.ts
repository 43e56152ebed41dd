/** /-/health (the process answers), /-/ready (database and storage usable), /-/metrics. */
import type { Context } from 'koa';
import type { AppDeps } from '../deps.ts';

export function opsRoutes(deps: AppDeps) {
  return {
    health(ctx: Context): void {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { status: 'ok' };
    },

    async ready(ctx: Context): Promise<void> {
      ctx.set('Cache-Control', 'no-store');
      const checks: Record<string, string> = {};
      try {
        await deps.store.check();
        checks.database = 'ok';
      } catch (err) {
        checks.database = (err as Error).message;
      }
      try {
        await deps.blobs.check();
        checks.storage = 'ok';
      } catch (err) {
        checks.storage = (err as Error).message;
      }
      const ok = Object.values(checks).every((v) => v === 'ok');
      ctx.status = ok ? 200 : 503;
      ctx.body = { status: ok ? 'ready' : 'not ready', checks };
    },

    async metrics(ctx: Context): Promise<void> {
      ctx.set('Cache-Control', 'no-store');
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.registry.metrics();
    },
  };
}
