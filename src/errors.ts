/**
 * Every error pydepot answers with on purpose. The status for each kind is set
 * here and nowhere else; the HTTP error middleware only reads it.
 *
 * `message` is one line a pip/twine user can act on: it becomes the HTTP reason
 * phrase and the text body (twine prints the reason phrase, warehouse-style).
 */
export class PydepotError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    // One line whatever it quotes (a member name from an archive, a form
    // field): control characters are shown escaped, never sent as they are.
    super(message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
    this.name = new.target.name;
    this.status = status;
    this.headers = headers;
  }
}

/** A request that can never succeed as sent (bad form field, bad filename...). */
export class BadRequest extends PydepotError {
  constructor(message: string) { super(400, message); }
}

/**
 * A target environment (a `--target` shorthand or a `--target-file`) that
 * describes no machine pydepot can resolve for; the message lists what is accepted.
 */
export class InvalidTarget extends PydepotError {
  constructor(message: string) { super(400, message); }
}

/**
 * A requirement, marker or requirements file pydepot cannot read or cannot
 * honour (a syntax error, an editable install, a URL...). `problems` holds
 * every one found, each a line of its own (`requirements.txt:7: '-e ./lib'
 * is an editable install; ...`); the message is the first, with a count of
 * the others, so it stays one line.
 */
export class InvalidRequirement extends PydepotError {
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    const more = list.length > 1 ? ` (and ${list.length - 1} more problem${list.length > 2 ? 's' : ''})` : '';
    super(400, `${list[0] ?? 'invalid requirement'}${more}`);
    this.problems = list;
  }
}

/** An uploaded file that is not a valid distribution, or disagrees with its form. */
export class InvalidDistribution extends PydepotError {
  constructor(message: string) { super(400, message); }
}

/** Same filename already stored with different bytes (twine's --skip-existing matches this text). */
export class FileExists extends PydepotError {
  constructor(filename: string, sha256: string) {
    super(400, `File already exists ('${filename}', with sha256 hash '${sha256}'). Upload a new version instead of replacing a file.`);
  }
}

/**
 * No credentials, or credentials that do not verify. The challenge is what
 * makes pip ask keyring or prompt: it never does on a 403.
 */
export class Unauthorized extends PydepotError {
  constructor(message: string) { super(401, message, { 'WWW-Authenticate': 'Basic realm="pydepot", charset="UTF-8"' }); }
}

/** Valid credentials (or none needed) without the right to do this. */
export class Forbidden extends PydepotError {
  constructor(message: string) { super(403, message); }
}

/** Too many failed logins from one address. */
export class TooManyRequests extends PydepotError {
  constructor(message: string, retryAfterSeconds: number) { super(429, message, { 'Retry-After': String(retryAfterSeconds) }); }
}

export class NotFound extends PydepotError {
  constructor(message = 'Not Found') { super(404, message); }
}

export class MethodNotAllowed extends PydepotError {
  constructor(message: string, allow: string) { super(405, message, { Allow: allow }); }
}

/** An API that existed once and is gone for good (PyPI's pre-registration, doc upload). */
export class Gone extends PydepotError {
  constructor(message: string) { super(410, message); }
}

export class NotAcceptable extends PydepotError {
  constructor(message: string) { super(406, message); }
}

/** A request body that stopped arriving (a stalled or vanished client). */
export class RequestTimeout extends PydepotError {
  constructor(message: string) { super(408, message); }
}

/**
 * A well-formed request that no set of files satisfies (a wheelhouse that
 * cannot be resolved for a target). `details` is sent as JSON beside the message.
 */
export class Unresolvable extends PydepotError {
  constructor(message: string, readonly details: Record<string, unknown>) { super(422, message); }
}

export class PayloadTooLarge extends PydepotError {
  constructor(message: string) { super(413, message); }
}

/** A body of a type the route does not read (a web UI form that is not urlencoded). */
export class UnsupportedMediaType extends PydepotError {
  constructor(message: string) { super(415, message); }
}

export class RangeNotSatisfiable extends PydepotError {
  constructor(size: number) { super(416, 'Requested range not satisfiable', { 'Content-Range': `bytes */${size}` }); }
}

/**
 * The storage folder's filesystem is full (ENOSPC) or over quota (EDQUOT), so
 * an upload could not be kept. Whatever was written of it is removed first.
 */
export class InsufficientStorage extends PydepotError {
  constructor() { super(507, 'The server is out of disk space; nothing was stored. Try again later or tell the operator.'); }
}

/**
 * A remote repository could not keep a file it had to fetch, for want of disk
 * space. 503, not 507: the client asked to store nothing, and pip retries a 503.
 */
export class CacheFull extends PydepotError {
  constructor(filename: string) {
    super(503, `The server is out of disk space and cannot cache '${filename}' from the upstream; nothing was stored. Try again later or tell the operator.`);
  }
}

/**
 * The blob store could not be reached or refused a request (an S3 endpoint
 * down, throttling, credentials it rejects), or the metadata database
 * (PostgreSQL) could not be reached. 503: nothing was stored, and the
 * same request can succeed later. `cause` says what failed, for the log only:
 * the client is not told where the bytes live.
 */
export class StorageUnavailable extends PydepotError {
  /** `message`: the metadata database says its own (it fails reads as well as writes). */
  constructor(cause: unknown, message = 'The file storage is unavailable; nothing was stored. Try again later or tell the operator.') {
    super(503, message);
    this.cause = cause;
  }
}

/**
 * A hosted file whose bytes are no longer stored: a scrub found them corrupt
 * and quarantined them. Said before the response starts, not by a cut one.
 */
export class StoredFileMissing extends PydepotError {
  constructor(filename: string, repo: string) {
    super(500, `The stored bytes of '${filename}' in repository '${repo}' are missing (a scrub found them corrupt); the file must be uploaded again. Tell the operator.`);
  }
}

/** The upstream of a remote repository failed and nothing usable is cached. */
export class UpstreamUnavailable extends PydepotError {
  constructor(message: string, timedOut = false) { super(timedOut ? 504 : 502, message); }
}

/**
 * An upload to a wheel cache that cannot be checked against its upstream
 * (unreachable, nothing cached): refused, never accepted unchecked. 503, so
 * that it reads as "try again later".
 */
export class UpstreamUncheckable extends PydepotError {
  constructor(message: string) { super(503, message); }
}

/** Start-up problems (config, TLS files...): printed, never served. */
export class ConfigError extends Error {
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}
