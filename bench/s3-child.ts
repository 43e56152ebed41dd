/**
 * s3rver in its own process (test/helpers/s3.ts, the S3 endpoint of the tests),
 * so that serving a herd's bytes does not share the load client's event loop:
 *   node --import tsx bench/s3-child.ts
 * Prints {"url": endpoint, "bucket": ...} once listening; stops (removing its
 * folder) on SIGTERM/SIGINT or when its stdin closes.
 */
import { S3_BUCKET, startS3 } from '../test/helpers/s3.ts';
import { stopWithParent } from './child-lifetime.ts';

const s3 = await startS3();
process.stdout.write(`${JSON.stringify({ url: s3.endpoint, bucket: S3_BUCKET })}\n`);
stopWithParent(() => s3.stop());
