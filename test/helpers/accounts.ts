/**
 * Users and tokens put straight into a test server's storage (a second
 * SQLite connection, as the CLI uses): the server must see them on its next
 * request. The CLI itself is tested in test/cli/accounts.test.ts.
 */
import { hashPassword } from '../../src/auth/passwords.ts';
import { newToken } from '../../src/auth/tokens.ts';
import type { Storage } from '../../src/storage/open.ts';
import { openTestStorage } from './test-backend.ts';
import type { TokenScope } from '../../src/storage/types.ts';

async function withStorage<T>(storage: string, f: (s: Storage) => Promise<T> | T): Promise<T> {
  const s = await openTestStorage(storage);
  try {
    return await f(s);
  } finally {
    await s.store.close();
  }
}

export async function addUser(storage: string, name: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  await withStorage(storage, (s) => s.users.addUser(name, hash, new Date().toISOString()));
}

export async function addToken(storage: string, user: string, opts: { repos?: string[]; scope?: TokenScope; expiresAt?: string } = {}): Promise<{ text: string; id: string }> {
  const { text, hash, id } = newToken();
  await withStorage(storage, (s) => s.users.addToken({
    id, hash, user, repos: opts.repos ?? null, scope: opts.scope ?? 'upload', description: null,
    createdAt: new Date().toISOString(), expiresAt: opts.expiresAt ?? null, revokedAt: null, lastUsedAt: null,
  }));
  return { text, id };
}

export async function revokeToken(storage: string, id: string): Promise<void> {
  await withStorage(storage, (s) => s.users.revokeToken(id, new Date().toISOString()));
}

export async function setPassword(storage: string, name: string, password: string): Promise<void> {
  const hash = await hashPassword(password);
  await withStorage(storage, (s) => s.users.setPassword(name, hash, new Date().toISOString()));
}

export async function removeUser(storage: string, name: string): Promise<void> {
  await withStorage(storage, (s) => s.users.removeUser(name));
}

export async function auditOf(storage: string) {
  return withStorage(storage, (s) => s.audit.list({}));
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}
