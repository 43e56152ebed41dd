import { randomBytes } from 'node:crypto';
import type { TokenRow, TokenScope, UserRow, UserStore } from '../types.ts';
import type { PgDb } from './db.ts';

interface TokenDbRow {
  id: string; user: string; repos: string | null; scope: TokenScope; description: string | null;
  createdAt: string; expiresAt: string | null; revokedAt: string | null; lastUsedAt: string | null;
}

const TOKEN_COLUMNS = `id, "user", repos, scope, description, created_at AS "createdAt", expires_at AS "expiresAt",
  revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"`;
const USER_COLUMNS = 'name, password_hash AS "passwordHash", created_at AS "createdAt", updated_at AS "updatedAt"';

function toToken(r: TokenDbRow): TokenRow {
  return { ...r, repos: r.repos === null ? null : (JSON.parse(r.repos) as string[]) };
}

export class PgUserStore implements UserStore {
  constructor(private readonly db: PgDb) {}

  async getUser(name: string): Promise<UserRow | null> {
    return (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE name = $1`, [name])).rows[0] ?? null;
  }

  async listUsers(): Promise<UserRow[]> {
    return (await this.db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users ORDER BY name`)).rows;
  }

  async addUser(name: string, passwordHash: string, now: string): Promise<boolean> {
    const { rowCount } = await this.db.query(`INSERT INTO users (name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $3)
      ON CONFLICT DO NOTHING`, [name, passwordHash, now]);
    return (rowCount ?? 0) > 0;
  }

  async setPassword(name: string, passwordHash: string, now: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE users SET password_hash = $1, updated_at = $2 WHERE name = $3', [passwordHash, now, name]);
    return (rowCount ?? 0) > 0;
  }

  async removeUser(name: string): Promise<boolean> {
    // Tokens go with it (ON DELETE CASCADE).
    const { rowCount } = await this.db.query('DELETE FROM users WHERE name = $1', [name]);
    return (rowCount ?? 0) > 0;
  }

  async addToken(t: TokenRow & { hash: string }): Promise<void> {
    await this.db.query(`INSERT INTO tokens (id, "user", hash, repos, scope, description, created_at, expires_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [t.id, t.user, t.hash, t.repos === null ? null : JSON.stringify(t.repos), t.scope, t.description, t.createdAt, t.expiresAt]);
  }

  async tokenByHash(hash: string): Promise<TokenRow | null> {
    const row = (await this.db.query<TokenDbRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = $1`, [hash])).rows[0];
    return row ? toToken(row) : null;
  }

  async listTokens(user?: string): Promise<TokenRow[]> {
    return (await this.db.query<TokenDbRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE $1::text IS NULL OR "user" = $1
      ORDER BY "user", created_at, id`, [user ?? null])).rows.map(toToken);
  }

  async revokeToken(id: string, now: string): Promise<boolean> {
    const { rowCount } = await this.db.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
    return (rowCount ?? 0) > 0;
  }

  async touchToken(id: string, now: string): Promise<void> {
    await this.db.query('UPDATE tokens SET last_used_at = $1 WHERE id = $2', [now, id]);
  }

  async secret(name: string): Promise<Buffer> {
    const read = async (): Promise<Buffer | undefined> =>
      (await this.db.query<{ value: Buffer }>('SELECT value FROM secrets WHERE name = $1', [name])).rows[0]?.value;
    const found = await read();
    if (found) return found;
    // DO NOTHING: two replicas making the key at once both read the one that won.
    await this.db.query('INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [name, randomBytes(32), new Date().toISOString()]);
    return (await read())!;
  }
}
