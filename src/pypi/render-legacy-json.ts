/**
 * The legacy JSON API (`/pypi/<project>/json`), shaped like pypi.org's, for
 * tools that still read it (Renovate, bandersnatch-style mirrors, audits).
 */
import type { CoreMetadata } from './core-metadata.ts';
import { compareVersions, isPrerelease } from './versions.ts';

/** What the legacy JSON API says of one file: the fields pypi.org's `urls` entries carry. */
export interface LegacyFile {
  filename: string;
  version: string;
  kind: 'wheel' | 'sdist';
  size: number;
  sha256: string;
  md5: string;
  blake2b256: string;
  requiresPython: string | null;
  metadataSha256: string | null;
  yanked: boolean;
  yankedReason: string | null;
  uploadTime: string;
}

export interface LegacyJsonInput {
  displayName: string;
  files: LegacyFile[];
  /** The version whose metadata fills `info`. */
  version: string;
  metadata: CoreMetadata | null;
  /** Absolute URL of a file, from its row. */
  fileUrl: (f: LegacyFile) => string;
  /** Absolute URL of the project page under /pypi/. */
  projectUrl: string;
  /** Include `releases` (project URL only, as on pypi.org). */
  withReleases: boolean;
}

/** "Latest" as pypi.org picks it: not yanked, then not a pre-release, then highest. */
export function latestVersion(files: LegacyFile[]): string | null {
  const versions = [...new Set(files.map((f) => f.version))];
  const allYanked = (v: string) => files.filter((f) => f.version === v).every((f) => f.yanked);
  const rank = (v: string) => (allYanked(v) ? 0 : 2) + (isPrerelease(v) ? 0 : 1);
  versions.sort((a, b) => rank(a) - rank(b) || compareVersions(a, b));
  return versions.at(-1) ?? null;
}

function fileEntry(f: LegacyFile, url: string) {
  const time = f.uploadTime;
  return {
    comment_text: '',
    digests: { blake2b_256: f.blake2b256, md5: f.md5, sha256: f.sha256 },
    downloads: -1,
    filename: f.filename,
    has_sig: false,
    md5_digest: f.md5,
    packagetype: f.kind === 'wheel' ? 'bdist_wheel' : 'sdist',
    python_version: f.kind === 'wheel' ? pythonTag(f.filename) : 'source',
    requires_python: f.requiresPython,
    size: f.size,
    upload_time: time.replace(/\.\d+Z$/, '').replace(/Z$/, ''),
    upload_time_iso_8601: time,
    url,
    yanked: f.yanked,
    yanked_reason: f.yankedReason,
    'core-metadata': f.metadataSha256 ? { sha256: f.metadataSha256 } : false,
  };
}

function pythonTag(wheel: string): string {
  const parts = wheel.replace(/\.whl$/, '').split('-');
  return parts[parts.length - 3] ?? '';
}

export function renderLegacyJson(input: LegacyJsonInput): string {
  const { files, version, metadata: m } = input;
  const ofVersion = files.filter((f) => f.version === version);
  const projectUrls: Record<string, string> = {};
  for (const entry of m?.projectUrls ?? []) {
    const i = entry.indexOf(',');
    if (i > 0) projectUrls[entry.slice(0, i).trim()] = entry.slice(i + 1).trim();
  }
  const info = {
    author: m?.author ?? null,
    author_email: m?.authorEmail ?? null,
    bugtrack_url: null,
    classifiers: m?.classifiers ?? [],
    description: m?.description ?? null,
    description_content_type: m?.descriptionContentType ?? null,
    docs_url: null,
    download_url: m?.downloadUrl ?? null,
    downloads: { last_day: -1, last_month: -1, last_week: -1 },
    dynamic: m?.dynamic ?? [],
    home_page: m?.homePage ?? null,
    keywords: m?.keywords ?? null,
    license: m?.license ?? null,
    license_expression: m?.licenseExpression ?? null,
    maintainer: m?.maintainer ?? null,
    maintainer_email: m?.maintainerEmail ?? null,
    name: m?.name ?? input.displayName,
    package_url: input.projectUrl,
    platform: m?.platforms[0] ?? null,
    project_url: input.projectUrl,
    project_urls: Object.keys(projectUrls).length ? projectUrls : null,
    provides_extra: m?.providesExtra ?? [],
    release_url: `${input.projectUrl}${version}/`,
    requires_dist: m && m.requiresDist.length ? m.requiresDist : null,
    requires_python: m?.requiresPython ?? null,
    summary: m?.summary ?? null,
    version,
    yanked: ofVersion.length > 0 && ofVersion.every((f) => f.yanked),
    yanked_reason: ofVersion.find((f) => f.yanked)?.yankedReason ?? null,
  };
  const body: Record<string, unknown> = { info, last_serial: 0 };
  if (input.withReleases) {
    const releases: Record<string, unknown[]> = {};
    const sorted = [...files].sort((a, b) => compareVersions(a.version, b.version));
    for (const f of sorted) (releases[f.version] ??= []).push(fileEntry(f, input.fileUrl(f)));
    body.releases = releases;
  }
  body.urls = ofVersion.map((f) => fileEntry(f, input.fileUrl(f)));
  body.vulnerabilities = [];
  return JSON.stringify(body);
}
