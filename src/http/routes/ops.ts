/** /-/health (the process answers), /-/ready (database and storage usable), /-/metrics. */
import type { Context } from 'koa';
import { CLUSTER_METRICS_TYPE } from '../../metrics.ts';
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
      const whole = deps.metrics.cluster;
      if (whole) {
        // A worker of `workers: n`: the answer is the whole server's, gathered by the primary.
        try {
          const text = await whole();
          ctx.type = CLUSTER_METRICS_TYPE;
          ctx.body = text;
        } catch (err) {
          deps.logger.warn({ err }, 'the metrics of the workers could not be gathered');
          ctx.status = 503;
          ctx.type = 'text/plain';
          ctx.body = `${(err as Error).message}\n`;
        }
        return;
      }
      ctx.type = deps.metrics.registry.contentType;
      ctx.body = await deps.metrics.registry.metrics();
    },
  };
}
