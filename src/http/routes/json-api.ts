/** GET <repo>/pypi/<project>/json and <repo>/pypi/<project>/<version>/json */
import type { Context } from 'koa';
import { NotFound } from '../../errors.ts';
import type { CoreMetadata } from '../../pypi/core-metadata.ts';
import { filePath } from '../../pypi/pages.ts';
import { latestVersion, renderLegacyJson, type LegacyFile } from '../../pypi/render-legacy-json.ts';
import { versionsEqual } from '../../pypi/versions.ts';
import { canonicalProject } from '../canonical.ts';
import type { AppDeps } from '../deps.ts';

/** The root of repository `repo` as an absolute URL, from the request. */
function repoBase(ctx: Context, repoName: string): string {
  const path = ctx.path;
  const marker = `/${repoName}/pypi/`;
  const i = path.indexOf(marker);
  // Koa 3's ctx.origin is the Origin request header, not this server's origin.
  return `${ctx.protocol}://${ctx.host}${path.slice(0, i)}/${repoName}/`;
}

export function jsonApiRoutes(deps: AppDeps) {
  return {
    async project(ctx: Context, repoName: string, param: string, versionParam: string | null): Promise<void> {
      const name = canonicalProject(ctx, param, (n) => (versionParam === null ? `../${n}/json` : `../../${n}/${versionParam}/json`));
      if (name === null) return;
      const repo = deps.registry.get(repoName);
      const release = (await repo.releaseFiles?.(name)) ?? null;
      if (release === null) throw new NotFound(`Project '${name}' is not in repository '${repo.name}'.`);
      const { files } = release;

      let version: string;
      if (versionParam === null) {
        version = latestVersion(files)!;
      } else {
        const match = files.find((f) => versionsEqual(f.version, versionParam));
        if (!match) throw new NotFound(`Project '${name}' has no version '${versionParam}' in repository '${repo.name}'.`);
        version = match.version;
      }
      const ofVersion = files.filter((f) => f.version === version);
      // Prefer a wheel's METADATA: an sdist's PKG-INFO may list fields as Dynamic.
      const best = ofVersion.find((f) => f.kind === 'wheel') ?? ofVersion[0]!;
      const metaJson = await release.metadataJson(best.filename);
      const metadata = metaJson ? (JSON.parse(metaJson) as CoreMetadata) : null;
      const base = repoBase(ctx, repo.name);
      ctx.set('Cache-Control', 'max-age=0, must-revalidate');
      ctx.type = 'application/json';
      ctx.body = renderLegacyJson({
        displayName: metadata?.name ?? name,
        files,
        version,
        metadata,
        fileUrl: (f: LegacyFile) => `${base}${filePath(f.sha256, f.filename)}`,
        projectUrl: `${base}pypi/${name}/`,
        withReleases: versionParam === null,
      });
    },
  };
}
