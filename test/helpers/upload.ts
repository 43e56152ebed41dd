/** Builds the legacy upload form the way twine sends it, over fetch. */
import { CI } from './ci-user.ts';
import type { BuiltDist } from './dists.ts';

export interface UploadOptions {
  /** Replace or add form fields (null removes one). */
  fields?: Record<string, string | null>;
  /** Send the file under another name. */
  filename?: string;
  /** Put text fields after the file part, as uv does for attestations. */
  fieldsAfterFile?: boolean;
  /** Extra request headers. Authorization defaults to the `ci` upload token; `null` sends none. */
  headers?: Record<string, string | null>;
}

export function twineFields(dist: BuiltDist, name: string, version: string): Record<string, string> {
  const wheel = dist.filename.endsWith('.whl');
  return {
    ':action': 'file_upload',
    protocol_version: '1',
    metadata_version: '2.1',
    name,
    version,
    filetype: wheel ? 'bdist_wheel' : 'sdist',
    pyversion: wheel ? 'py3' : 'source',
    sha256_digest: dist.sha256,
    blake2_256_digest: dist.blake2b256,
  };
}

export async function upload(url: string, dist: BuiltDist, name: string, version: string, opts: UploadOptions = {}): Promise<Response> {
  const fields = { ...twineFields(dist, name, version), ...opts.fields };
  const form = new FormData();
  const addFields = () => {
    for (const [k, v] of Object.entries(fields)) if (v !== null) form.append(k, v);
  };
  if (!opts.fieldsAfterFile) addFields();
  form.append('content', new Blob([dist.bytes], { type: 'application/octet-stream' }), opts.filename ?? dist.filename);
  if (opts.fieldsAfterFile) addFields();
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries({ Authorization: CI.basic, ...opts.headers })) if (v !== null) headers[k] = v;
  return fetch(url, { method: 'POST', body: form, headers });
}
