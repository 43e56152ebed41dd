/**
 * The HTTPS certificate and key, read and checked at start-up: a bad file
 * must stop pydepot with the config key to fix, not fail every handshake
 * later with an OpenSSL error nobody sees.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { TlsConfig } from './config/schema.ts';
import { ConfigError } from './errors.ts';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

function fail(key: keyof TlsConfig, file: string, reason: string): never {
  throw new ConfigError(`config key 'tls.${key}': cannot load ${file}: ${reason}`);
}

function read(key: keyof TlsConfig, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    fail(key, file, (err as Error).message);
  }
}

/** Throws unless `build` succeeds; OpenSSL's own words go after ours. */
function check(key: keyof TlsConfig, file: string, what: string, build: () => unknown): void {
  try {
    build();
  } catch (err) {
    fail(key, file, `${what} (${(err as Error).message})`);
  }
}

export function loadTlsFiles(tls: TlsConfig): TlsFiles {
  const cert = read('cert', tls.cert);
  const key = read('key', tls.key);
  // One part at a time, so the message blames the right file.
  check('cert', tls.cert, 'not a PEM certificate', () => createSecureContext({ cert }));
  check('key', tls.key, 'not an unencrypted PEM private key', () => createSecureContext({ key }));
  check('key', tls.key, `the key does not match the certificate in ${tls.cert}`, () => createSecureContext({ cert, key }));
  return { cert, key };
}
