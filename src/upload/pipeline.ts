/**
 * The checks an upload passes before it is stored, one rule per step, in
 * warehouse's order, each failing with a line a twine user can act on.
 * Nothing here writes; a form that fails a check has its temp blob
 * discarded, and a validated one is handed on to be committed.
 */
import { createHash } from 'node:crypto';
import { BadRequest, Gone, InvalidDistribution } from '../errors.ts';
import { parseCoreMetadata, type CoreMetadata } from '../pypi/core-metadata.ts';
import { checkSafeFilename, parseDistFilename, type DistFilename } from '../pypi/filenames.ts';
import { isValidProjectName, normalizeName } from '../pypi/names.ts';
import { isValidVersion, versionsEqual } from '../pypi/versions.ts';
import type { BlobStore, TempBlob } from '../storage/types.ts';
import type { UploadForm } from './form.ts';
import { readSdistMetadata, readWheelMetadata, type Archive } from './inspect.ts';

/** An upload that passed every check: its temp blob is the receiver's to commit or discard. */
export interface ValidatedUpload {
  temp: TempBlob;
  dist: DistFilename;
  metadata: CoreMetadata;
  /** Exact METADATA bytes of a wheel (served for PEP 658); null for sdists. */
  coreMetadata: Buffer | null;
  /** Their sha256, which index pages announce (PEP 658). */
  metadataSha256: string | null;
  /** requires-python to advertise: the file's own metadata wins over the form. */
  requiresPython: string | null;
}

const DIGEST_FIELDS = [
  ['sha256_digest', 'sha256'],
  ['blake2_256_digest', 'blake2b256'],
  ['md5_digest', 'md5'],
] as const;

/**
 * A field that has one value. Sent twice with different values, it is
 * refused: taking the first would let two parsers of one form disagree.
 */
function single(form: UploadForm, name: string): string | null {
  const v = form.fields.get(name);
  if (!v || v.length === 0) return null;
  if (new Set(v.map((x) => x.trim())).size > 1) {
    throw new BadRequest(`Form field '${name}' was sent ${v.length} times with different values; send it once.`);
  }
  const value = v[0]!.trim();
  return value === '' || value === 'UNKNOWN' ? null : value;
}

function checkAction(form: UploadForm): void {
  const action = single(form, ':action');
  if (action === 'file_upload') return;
  if (action === 'submit' || action === 'submit_pkg_info') {
    throw new Gone('Project pre-registration is no longer required or supported, upload your files instead.');
  }
  if (action === 'doc_upload') throw new Gone('Uploading documentation is no longer supported.');
  if (action === null) throw new BadRequest("Missing ':action' form field; expected 'file_upload' (is this a twine upload?).");
  throw new BadRequest(`Unknown :action '${action}'; only 'file_upload' is supported.`);
}

function checkProtocol(form: UploadForm): void {
  const v = single(form, 'protocol_version');
  if (v !== null && v !== '1') throw new BadRequest('Unknown protocol version.');
}

function checkFiletype(form: UploadForm, dist: DistFilename): void {
  const filetype = single(form, 'filetype');
  if (filetype === null) return;
  const expected = dist.kind === 'wheel' ? 'bdist_wheel' : 'sdist';
  if (filetype !== 'bdist_wheel' && filetype !== 'sdist') {
    throw new BadRequest(`'${filetype}' is an invalid value for filetype. Only bdist_wheel and sdist are accepted (PEP 527, PEP 715).`);
  }
  if (filetype !== expected) {
    throw new InvalidDistribution(`Invalid file extension for filetype '${filetype}': '${dist.filename}' is a${dist.kind === 'wheel' ? ' wheel' : 'n sdist'}.`);
  }
}

function checkNameAndVersion(form: UploadForm, dist: DistFilename): void {
  const name = single(form, 'name');
  if (name === null) throw new BadRequest("Missing 'name' form field (the project name).");
  if (!isValidProjectName(name)) {
    throw new BadRequest(`'${name}' is an invalid value for Name. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'.`);
  }
  if (normalizeName(name) !== dist.normalizedName) {
    throw new InvalidDistribution(`Start filename for project '${name}' with '${normalizeName(name).replace(/-/g, '_')}': '${dist.filename}' belongs to '${dist.name}'.`);
  }
  const version = single(form, 'version');
  if (version === null) throw new BadRequest("Missing 'version' form field.");
  if (!isValidVersion(version)) {
    throw new BadRequest(`'${version}' is an invalid value for Version. Error: Use a PEP 440 version such as 1.0.0.`);
  }
  if (!versionsEqual(version, dist.version)) {
    throw new InvalidDistribution(`Version in filename should be '${version}' not '${dist.version}'.`);
  }
}

function checkDigests(form: UploadForm, temp: TempBlob): void {
  let supplied = 0;
  for (const [field, key] of DIGEST_FIELDS) {
    const value = single(form, field);
    if (value === null) continue;
    supplied++;
    if (value.toLowerCase() !== temp[key]) {
      throw new BadRequest(`The digest supplied does not match a digest calculated from the uploaded file (${field}). The upload was probably corrupted; try again.`);
    }
  }
  if (supplied === 0) throw new BadRequest('Include at least one message digest (sha256_digest, blake2_256_digest or md5_digest).');
}

async function readMetadata(dist: DistFilename, temp: TempBlob, blobs: BlobStore): Promise<Buffer> {
  if (temp.size === 0) throw new InvalidDistribution('Invalid distribution file. The file is empty.');
  const archive: Archive = { size: temp.size, open: () => blobs.openTemp(temp) };
  return dist.kind === 'wheel'
    ? readWheelMetadata(archive, dist.filename, dist.normalizedName)
    : readSdistMetadata(archive, dist.filename, dist.format);
}

function checkMetadataMatches(metadata: CoreMetadata, dist: DistFilename): void {
  const what = dist.kind === 'wheel' ? 'METADATA' : 'PKG-INFO';
  if (normalizeName(metadata.name) !== dist.normalizedName) {
    throw new InvalidDistribution(`The ${what} inside '${dist.filename}' names the project '${metadata.name}', not '${dist.name}'.`);
  }
  if (!versionsEqual(metadata.version, dist.version)) {
    throw new InvalidDistribution(`The ${what} inside '${dist.filename}' has version '${metadata.version}', not '${dist.version}'.`);
  }
}

/**
 * Checks an upload form. Takes ownership of its temp blob: on any failure it
 * is discarded here, so a refused upload leaves nothing in storage.
 */
export async function validateUpload(form: UploadForm, blobs: BlobStore): Promise<ValidatedUpload> {
  try {
    return await check(form, blobs);
  } catch (err) {
    if (form.content) await blobs.discard(form.content.temp);
    throw err;
  }
}

async function check(form: UploadForm, blobs: BlobStore): Promise<ValidatedUpload> {
  checkAction(form);
  checkProtocol(form);
  if (!form.content) throw new BadRequest('Upload payload does not have a file.');
  const { filename, temp } = form.content;
  checkSafeFilename(filename);
  const dist = parseDistFilename(filename);
  checkFiletype(form, dist);
  checkNameAndVersion(form, dist);
  checkDigests(form, temp);
  const raw = await readMetadata(dist, temp, blobs);
  const metadata = parseCoreMetadata(raw.toString('utf8'));
  checkMetadataMatches(metadata, dist);
  return {
    temp,
    dist,
    metadata,
    coreMetadata: dist.kind === 'wheel' ? raw : null,
    metadataSha256: dist.kind === 'wheel' ? sha256Hex(raw) : null,
    requiresPython: metadata.requiresPython ?? single(form, 'requires_python'),
  };
}

function sha256Hex(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}
