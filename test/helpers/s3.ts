/**
 * A throw-away S3 endpoint on loopback: s3rver (an S3 API over a folder) on
 * a random port, with one bucket, and every request it gets recorded so that
 * a test can tell which S3 calls were made (a multipart upload, a ranged GET).
 *
 * s3rver checks SigV4 signatures against its own fixed key pair, so the
 * helper sets the standard AWS environment variables that the SDK's default
 * credential chain reads, as an operator would.
 */
import { createServer } from 'node:http';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ExecutionContext } from 'ava';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';
import type { S3BlobsConfig } from '../../src/config/schema.ts';

export const S3_BUCKET = 'pydepot-test';

export interface S3Request {
  method: string;
  /** Path and query as sent (path-style: /<bucket>/<key>?...). */
  url: string;
  host: string;
  range: string | undefined;
  /** x-amz-copy-source of a CopyObject. */
  copySource: string | undefined;
}

export interface FakeS3 {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  bucket: string;
  /** Every request received, in order. */
  requests: S3Request[];
  /** The `blobs` config of a store in this bucket (path-style), under `prefix`. */
  blobs(prefix?: string, extra?: Partial<S3BlobsConfig>): S3BlobsConfig;
  /** Stops listening (connections are refused), keeping the bucket's contents. */
  pause(): Promise<void>;
  /** Listens again on the same port, with the same contents. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The credentials s3rver accepts, put where the SDK's default chain looks first. */
export function useS3rverCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  // Never a developer's own profile or region.
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  // The SDK warns once per process that its 2027 releases need Node 22.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
}

let prefixes = 0;

interface S3rverObject { bucket: string; key: string; content: Buffer | Readable; metadata: Record<string, string> }
interface S3rverStore {
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, metadata: unknown): Promise<unknown>;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver writes an object in place, so a GET or HEAD during a PUT (or the
 * completion of a multipart upload) sees part of it, and a PUT of a Buffer
 * answers before its bytes are written. S3, MinIO and Ceph make an object
 * visible whole or not at all, which pydepot relies on: this writes each
 * object beside its final name and renames it there once complete.
 * Also, S3 gives an object copied onto itself a new LastModified (how a
 * stored blob is renewed); s3rver leaves it as it was.
 * (s3rver 3.7.1's FilesystemStore internals; the package is pinned.)
 */
function behaveLikeS3(s3rver: S3rver): void {
  const store = (s3rver as unknown as { store: S3rverStore }).store;
  const copyObject = store.copyObject.bind(store);
  store.copyObject = async (srcBucket, srcKey, destBucket, destKey, metadata) => {
    if (srcBucket === destBucket && srcKey === destKey) {
      const now = new Date();
      await utimes(store.getResourcePath(srcBucket, srcKey, 'object'), now, now);
    }
    return copyObject(srcBucket, srcKey, destBucket, destKey, metadata);
  };
  store.putObject = async (object) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const partial = `${objectPath}.${randomUUID()}.partial`;
    const md5 = createHash('md5');
    let size = 0;
    const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(content, count, createWriteStream(partial));
      const digest = md5.digest('hex');
      await store.putMetadata(object.bucket, object.key, object.metadata, digest);
      await rename(partial, objectPath);
      return { size, md5: digest };
    } finally {
      await rm(partial, { force: true });
    }
  };
}

/** Starts s3rver on 127.0.0.1 (a random port) with `S3_BUCKET` created; stopped and removed with the test (or by stop()). */
export async function startS3(t?: ExecutionContext): Promise<FakeS3> {
  useS3rverCredentials();
  const directory = await mkdtemp(join(tmpdir(), 'pydepot-s3-'));
  const s3rver = new S3rver({
    silent: true,
    directory,
    // Virtual-host requests name <bucket>.s3.localhost (tests route it to loopback).
    serviceEndpoint: 'localhost',
    configureBuckets: [{ name: S3_BUCKET, configs: [] }],
  });
  behaveLikeS3(s3rver);
  await s3rver.configureBuckets();
  // Our own listener around s3rver's handler: it can stop and listen again
  // (an outage) without s3rver closing its logger, and it records requests.
  const requests: S3Request[] = [];
  const handle = s3rver.callback();
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', range: req.headers.range, copySource: req.headers['x-amz-copy-source'] as string | undefined });
    handle(req, res);
  });
  let port = 0;
  const listen = (): Promise<void> => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      port = (server.address() as AddressInfo).port;
      resolve();
    });
  });
  await listen();
  const endpoint = `http://127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const pause = async (): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await pause();
      await rm(directory, { recursive: true, force: true });
    })();
    return stopped;
  };
  const resume = listen;
  t?.teardown(stop);
  return {
    endpoint,
    port,
    bucket: S3_BUCKET,
    requests,
    blobs: (prefix = `t${process.pid}-${++prefixes}`, extra = {}) => ({
      type: 's3', endpoint, bucket: S3_BUCKET, region: 'us-east-1', prefix, forcePathStyle: true, partSize: 5 * 1024 * 1024, ...extra,
    }),
    pause,
    resume,
    stop,
  };
}
