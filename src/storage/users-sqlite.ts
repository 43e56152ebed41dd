import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';
import type { TokenRow, TokenScope, UserRow, UserStore } from './types.ts';

interface TokenDbRow {
  id: string; user: string; repos: string | null; scope: TokenScope; description: string | null;
  createdAt: string; expiresAt: string | null; revokedAt: string | null; lastUsedAt: string | null;
}

const TOKEN_COLUMNS = `id, user, repos, scope, description, created_at AS createdAt, expires_at AS expiresAt,
  revoked_at AS revokedAt, last_used_at AS lastUsedAt`;

function toToken(r: TokenDbRow): TokenRow {
  return { ...r, repos: r.repos === null ? null : (JSON.parse(r.repos) as string[]) };
}

export class SqliteUserStore implements UserStore {
  private readonly q: Record<string, Statement>;

  constructor(db: Db) {
    const p = (sql: string) => db.prepare(sql);
    this.q = {
      getUser: p('SELECT name, password_hash AS passwordHash, created_at AS createdAt, updated_at AS updatedAt FROM users WHERE name = ?'),
      listUsers: p('SELECT name, password_hash AS passwordHash, created_at AS createdAt, updated_at AS updatedAt FROM users ORDER BY name'),
      addUser: p('INSERT OR IGNORE INTO users (name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)'),
      setPassword: p('UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?'),
      removeUser: p('DELETE FROM users WHERE name = ?'),
      addToken: p(`INSERT INTO tokens (id, user, hash, repos, scope, description, created_at, expires_at)
                   VALUES (@id, @user, @hash, @repos, @scope, @description, @createdAt, @expiresAt)`),
      tokenByHash: p(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`),
      listTokens: p(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE @user IS NULL OR user = @user ORDER BY user, created_at, id`),
      revokeToken: p('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      touchToken: p('UPDATE tokens SET last_used_at = ? WHERE id = ?'),
      // OR IGNORE: two processes making the key at once both read the one that won.
      makeSecret: p('INSERT OR IGNORE INTO secrets (name, value, created_at) VALUES (?, ?, ?)'),
      secret: p('SELECT value FROM secrets WHERE name = ?').pluck(),
    };
  }

  async getUser(name: string): Promise<UserRow | null> {
    return (this.q.getUser!.get(name) as UserRow | undefined) ?? null;
  }

  async listUsers(): Promise<UserRow[]> {
    return this.q.listUsers!.all() as UserRow[];
  }

  async addUser(name: string, passwordHash: string, now: string): Promise<boolean> {
    return this.q.addUser!.run(name, passwordHash, now, now).changes > 0;
  }

  async setPassword(name: string, passwordHash: string, now: string): Promise<boolean> {
    return this.q.setPassword!.run(passwordHash, now, name).changes > 0;
  }

  async removeUser(name: string): Promise<boolean> {
    // Tokens go with it (ON DELETE CASCADE).
    return this.q.removeUser!.run(name).changes > 0;
  }

  async addToken(token: TokenRow & { hash: string }): Promise<void> {
    this.q.addToken!.run({ ...token, repos: token.repos === null ? null : JSON.stringify(token.repos) });
  }

  async tokenByHash(hash: string): Promise<TokenRow | null> {
    const row = this.q.tokenByHash!.get(hash) as TokenDbRow | undefined;
    return row ? toToken(row) : null;
  }

  async listTokens(user?: string): Promise<TokenRow[]> {
    return (this.q.listTokens!.all({ user: user ?? null }) as TokenDbRow[]).map(toToken);
  }

  async revokeToken(id: string, now: string): Promise<boolean> {
    return this.q.revokeToken!.run(now, id).changes > 0;
  }

  async touchToken(id: string, now: string): Promise<void> {
    this.q.touchToken!.run(now, id);
  }

  async secret(name: string): Promise<Buffer> {
    const found = this.q.secret!.get(name) as Buffer | undefined;
    if (found) return found;
    this.q.makeSecret!.run(name, randomBytes(32), new Date().toISOString());
    return this.q.secret!.get(name) as Buffer;
  }
}
