/**
 * The legacy upload form, parsed as a stream: the `content` file goes straight
 * to temporary storage while it is hashed, whatever the order of the parts
 * (twine sends the file last, uv sends `attestations` after it).
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { BadRequest, PayloadTooLarge, RequestTimeout } from '../errors.ts';
import type { BlobStore, TempBlobWriter } from '../storage/types.ts';
import type { UploadForm } from '../upload/form.ts';

export interface MultipartLimits {
  maxFileSize: number;
  /** A body that sends nothing for this long is dropped, and its temp blob removed at once. */
  idleTimeoutMs: number;
  /**
   * A body that delivers less than this many bytes per second, counted over
   * each idleTimeoutMs window from its start, is dropped the same way: a
   * trickle of a byte a second is never idle, yet would hold a connection and
   * a temp file for days. Windows in which pydepot itself held the body back
   * (its disk was slow) do not count. 0: no minimum.
   */
  minBytesPerSecond: number;
}

// Descriptions (READMEs) are the largest text fields twine sends.
const MAX_FIELD_BYTES = 16 * 1024 * 1024;

export function parseUploadForm(req: IncomingMessage, blobs: BlobStore, limits: MultipartLimits): Promise<UploadForm> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) {
    throw new BadRequest('Expected a multipart/form-data upload, as twine sends (POST the distribution file in a "content" part).');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.maxFileSize + MAX_FIELD_BYTES) {
    throw new PayloadTooLarge(tooLarge(limits.maxFileSize));
  }

  return new Promise<UploadForm>((resolve, reject) => {
    const fields = new Map<string, string[]>();
    let content: { filename: string; writer: TempBlobWriter } | null = null;
    let failure: Error | null = null;
    const pending: Promise<unknown>[] = [];

    const fail = (err: Error): void => {
      if (failure) return;
      failure = err;
      if (content) pending.push(content.writer.abort());
      // Keep reading (and discarding) the body so the client sees our answer
      // instead of a connection reset mid-upload.
      req.unpipe(bb);
      req.resume();
      settle();
    };

    const settle = (): void => {
      // The body is over (or given up on): idleness is no longer the client's.
      req.setTimeout(0);
      clearInterval(rateCheck);
      Promise.allSettled(pending).then(async () => {
        if (failure) {
          await content?.writer.abort();
          reject(failure);
          return;
        }
        try {
          const temp = content ? await content.writer.finished() : null;
          resolve({ fields, content: content && temp ? { filename: content.filename, temp } : null });
        } catch (err) {
          await content?.writer.abort();
          reject(err);
        }
      });
    };

    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // preservePath: we want to *see* "../evil" in a filename and refuse it,
        // not have it silently shortened.
        preservePath: true,
        limits: { fieldSize: MAX_FIELD_BYTES, fields: 5000, files: 4, parts: 6000 },
      });
    } catch (err) {
      reject(new BadRequest(`Malformed multipart upload: ${(err as Error).message}.`));
      return;
    }

    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(new BadRequest(`Form field '${name}' is larger than ${MAX_FIELD_BYTES} bytes.`));
      if (name === 'content') return fail(new BadRequest("'content' must be a file part, not a text field."));
      const list = fields.get(name);
      if (list) list.push(value);
      else fields.set(name, [value]);
    });

    bb.on('file', (name, stream, info) => {
      // When the form breaks off while a file part is open (no closing
      // boundary, a truncated body), busboy destroys that part's stream with
      // the form's own error, which the 'error' handler below answers with a
      // 400. Without a listener on the part stream that same error is also
      // an uncaught exception, and the whole server process exits.
      // (Found by test/fuzz/http.test.ts.)
      stream.on('error', () => {});
      if (name !== 'content' || failure) {
        // gpg_signature and friends: PyPI ignores them, so do we.
        stream.resume();
        return;
      }
      if (content) {
        stream.resume();
        return fail(new BadRequest("More than one 'content' file in the upload; send one distribution per request."));
      }
      const writer = blobs.createTemp({ maxBytes: limits.maxFileSize, tooLargeMessage: tooLarge(limits.maxFileSize) });
      content = { filename: info.filename ?? '', writer };
      stream.pipe(writer.stream);
      pending.push(
        writer.finished().catch((err: Error) => {
          stream.unpipe(writer.stream);
          stream.resume();
          fail(err);
        }),
      );
    });

    bb.on('filesLimit', () => fail(new BadRequest('Too many file parts in the upload.')));
    bb.on('fieldsLimit', () => fail(new BadRequest('Too many form fields in the upload.')));
    bb.on('partsLimit', () => fail(new BadRequest('Too many parts in the upload.')));
    bb.on('error', (err: Error) => {
      const hint = /part header/i.test(err.message) ? ' (control characters in a file or field name?)' : '';
      fail(new BadRequest(`Malformed multipart upload: ${err.message.replace(/\.$/, '')}${hint}.`));
    });
    bb.on('close', () => {
      if (!failure) settle();
    });

    // A client that disconnects mid-upload never sends the end of the body;
    // busboy would wait forever for it.
    req.on('close', () => {
      if (!req.complete) fail(new BadRequest('The upload was interrupted before the whole request body arrived.'));
    });

    // A client that stalls mid-upload would hold a descriptor and a temp
    // file forever: past the idle timeout it is dropped and they are removed.
    const drop = (err: RequestTimeout): void => {
      fail(err);
      // The temp file is gone before the connection is.
      const removed = content ? content.writer.abort() : Promise.resolve();
      removed.finally(() => req.destroy()).catch(() => undefined);
    };
    req.setTimeout(limits.idleTimeoutMs, () => {
      drop(new RequestTimeout(`The upload sent nothing for ${limits.idleTimeoutMs / 1000} s and was dropped; try again.`));
    });

    // One that trickles is not idle: it must deliver the minimum rate in each window.
    let windowBytes = 0;
    let heldBack = false;
    const windowSeconds = limits.idleTimeoutMs / 1000;
    const rateCheck = setInterval(() => {
      const slow = !req.complete && !heldBack && !req.isPaused() && windowBytes < limits.minBytesPerSecond * windowSeconds;
      const sent = windowBytes;
      windowBytes = 0;
      heldBack = false;
      if (slow && !failure) {
        drop(new RequestTimeout(
          `The upload sent ${sent} bytes in ${windowSeconds} s, slower than the server's minimum of ${limits.minBytesPerSecond} bytes/s, and was dropped; try again.`,
        ));
      }
    }, limits.idleTimeoutMs);
    if (limits.minBytesPerSecond === 0) clearInterval(rateCheck);

    req.pipe(bb);
    req.on('data', (chunk: Buffer) => { windowBytes += chunk.length; });
    // Backpressure from our own side (the temp file's disk) is not the client's slowness.
    req.on('pause', () => { heldBack = true; });
  });
}

function tooLarge(max: number): string {
  return `File too large. Limit for this repository is ${formatBytes(max)}.`;
}

function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n} ${units[i]}`;
}
