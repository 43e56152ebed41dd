/**
 * An upload through the legacy API, as twine sends it (PROTOCOL.md §6):
 * one multipart POST with the core metadata as form fields, `:action`,
 * `protocol_version`, the digest and, last, the file, streamed from disk.
 * The answer is sorted the way twine's `--skip-existing` sorts it: a 200
 * that says the same bytes are there already, a conflict over the filename
 * (409, or 400 "already exists"), or a refusal with the server's reason.
 */
import { openAsBlob } from 'node:fs';
import { text } from 'node:stream/consumers';
import type { CoreMetadata } from '../pypi/core-metadata.ts';
import type { DistFilename } from '../pypi/filenames.ts';
import { UpstreamRequestError, type UpstreamClient } from './client.ts';
import { firstLine } from './index-reader.ts';

export interface UploadResult {
  /**
   * uploaded: stored now; identical: the same bytes were there already (200);
   * exists: the filename is taken by other bytes; refused: anything else.
   */
  outcome: 'uploaded' | 'identical' | 'exists' | 'refused';
  status: number;
  /** The server's reason (its body's first line), or why no answer came. */
  reason: string;
}

/**
 * METADATA header → form field, as twine names them (twine package.py
 * `_RAW_TO_PACKAGE_METADATA`); a header not listed here is not sent.
 */
const FORM_FIELDS: Record<string, string> = {
  'metadata-version': 'metadata_version',
  name: 'name',
  version: 'version',
  summary: 'summary',
  keywords: 'keywords',
  'home-page': 'home_page',
  author: 'author',
  'author-email': 'author_email',
  maintainer: 'maintainer',
  'maintainer-email': 'maintainer_email',
  license: 'license',
  'license-expression': 'license_expression',
  'license-file': 'license_file',
  'download-url': 'download_url',
  classifier: 'classifiers',
  platform: 'platform',
  'supported-platform': 'supported_platform',
  'requires-dist': 'requires_dist',
  'requires-python': 'requires_python',
  'requires-external': 'requires_external',
  'provides-extra': 'provides_extra',
  'provides-dist': 'provides_dist',
  'obsoletes-dist': 'obsoletes_dist',
  'project-url': 'project_urls',
  'description-content-type': 'description_content_type',
  dynamic: 'dynamic',
};

/** The form's text fields, in twine's order: metadata, then the action and the digest. */
export function uploadFields(dist: DistFilename, metadata: CoreMetadata, sha256: string): [string, string][] {
  const fields: [string, string][] = [];
  for (const [header, values] of Object.entries(metadata.fields)) {
    const field = FORM_FIELDS[header];
    if (field === undefined) continue;
    for (const v of values) fields.push([field, v]);
  }
  if (metadata.description !== null) fields.push(['description', metadata.description]);
  fields.push(
    [':action', 'file_upload'],
    ['protocol_version', '1'],
    ['filetype', dist.kind === 'wheel' ? 'bdist_wheel' : 'sdist'],
    ['pyversion', dist.kind === 'wheel' ? dist.pythonTags.join('.') : 'source'],
    ['sha256_digest', sha256],
  );
  return fields;
}

/** POSTs the file at `path` to `url` (a repository's upload URL, `…/<repo>/`). */
export async function uploadFile(client: UpstreamClient, url: string, path: string, dist: DistFilename, metadata: CoreMetadata, sha256: string): Promise<UploadResult> {
  const form = new FormData();
  for (const [k, v] of uploadFields(dist, metadata, sha256)) form.append(k, v);
  // A file-backed Blob: the wheel is streamed from disk, never held in memory.
  form.append('content', await openAsBlob(path, { type: 'application/octet-stream' }), dist.filename);
  let status: number;
  let body: string;
  let location: string | undefined;
  try {
    const res = await client.post(url, form);
    status = res.status;
    location = typeof res.headers.location === 'string' ? res.headers.location : undefined;
    body = await text(res.body).catch(() => '');
  } catch (err) {
    if (err instanceof UpstreamRequestError) return { outcome: 'refused', status: 0, reason: err.message.replace(/^upstream /, '') };
    throw err;
  }
  // pydepot and warehouse write `<status> <reason>` in the body; the status is said apart.
  const reason = firstLine(body).replace(new RegExp(`^${status} `), '');
  if (status === 200) return { outcome: /already exists/i.test(body) ? 'identical' : 'uploaded', status, reason };
  if (status === 409 || (status === 400 && /already exist/i.test(body))) return { outcome: 'exists', status, reason };
  if (status >= 300 && status < 400) {
    return { outcome: 'refused', status, reason: `redirected${location ? ` to ${location}` : ''}: give the repository's upload URL itself (…/<repo>/)` };
  }
  const fallback = status === 401 ? 'credentials needed: give --token, PYDEPOT_TOKEN, or user:password in the URL' : `answered ${status}`;
  return { outcome: 'refused', status, reason: reason || fallback };
}
