/**
 * s3rver in its own process (test/helpers/s3.ts, the S3 endpoint of the tests),
 * so that serving a herd's bytes does not share the load client's event loop:
 *   node --import tsx bench/s3-child.ts
 * Prints {"url": endpoint, "bucket": ...} once listening, then one line per
 * request ({"event": "s3", method, url, range}); stops (removing its
 * folder) on SIGTERM/SIGINT or when its stdin closes.
 */
import { S3_BUCKET, startS3 } from '../test/helpers/s3.ts';
import { stopWithParent } from './child-lifetime.ts';

const s3 = await startS3();
process.stdout.write(`${JSON.stringify({ url: s3.endpoint, bucket: S3_BUCKET })}\n`);
// Every request after that, one line each, for the bench to count (GETs of an object, a multipart commit's calls).
const record = s3.requests.push.bind(s3.requests);
s3.requests.push = (...requests) => {
  for (const r of requests) process.stdout.write(`${JSON.stringify({ event: 's3', method: r.method, url: r.url, range: r.range ?? null })}\n`);
  return record(...requests);
};
stopWithParent(() => s3.stop());
