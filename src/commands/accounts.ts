/** `pydepot user …` and `pydepot token …`: the people and tokens that pydepot lets in. */
import { USER_NAME, TOKEN_USERNAME } from '../config/schema.ts';
import { hashPassword } from '../auth/passwords.ts';
import { newToken, parseExpiry, tokenState } from '../auth/tokens.ts';
import type { TokenRow, TokenScope } from '../storage/types.ts';
import { printErr, printOut, UsageError, withStorage, type CommonOptions, type Io } from './context.ts';

const MIN_PASSWORD_LENGTH = 8;

interface PasswordOptions extends CommonOptions {
  passwordStdin?: boolean;
}

async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  // `echo pw | pydepot …` and `printf pw` both work: one trailing newline is not part of it.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function newPassword(opts: PasswordOptions, io: Io): Promise<string> {
  let password: string;
  if (opts.passwordStdin) {
    password = await readStdin(io);
  } else {
    const { ask } = io;
    if (!ask) throw new UsageError('no terminal to ask for the password: pipe it in with --password-stdin');
    password = await ask('Password: ');
    const again = await ask('Again: ');
    if (again !== password) throw new UsageError('the passwords differ; nothing changed');
  }
  if (password.length < MIN_PASSWORD_LENGTH) throw new UsageError(`a password needs at least ${MIN_PASSWORD_LENGTH} characters; nothing changed`);
  return password;
}

function checkUserName(name: string): void {
  if (!USER_NAME.test(name) || name === TOKEN_USERNAME) {
    throw new UsageError(`'${name}' cannot be a user name: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64`);
  }
}

export async function userAdd(name: string, opts: PasswordOptions, io: Io): Promise<void> {
  checkUserName(name);
  const hash = await hashPassword(await newPassword(opts, io));
  await withStorage(opts, io, async ({ users }) => {
    if (!await users.addUser(name, hash, new Date().toISOString())) throw new UsageError(`user '${name}' exists already; use \`pydepot user passwd ${name}\``);
  });
  printOut(io, `added user ${name}`);
}

export async function userPasswd(name: string, opts: PasswordOptions, io: Io): Promise<void> {
  await withStorage(opts, io, async ({ users }) => {
    if (!await users.getUser(name)) throw new UsageError(`no user '${name}'`);
  });
  const hash = await hashPassword(await newPassword(opts, io));
  await withStorage(opts, io, async ({ users }) => {
    if (!await users.setPassword(name, hash, new Date().toISOString())) throw new UsageError(`no user '${name}'`);
  });
  printOut(io, `changed the password of ${name}`);
}

export async function userRemove(name: string, opts: CommonOptions, io: Io): Promise<void> {
  await withStorage(opts, io, async ({ users }) => {
    const now = new Date();
    const tokens = (await users.listTokens(name)).filter((t) => tokenState(t, now) === 'active').length;
    if (!await users.removeUser(name)) throw new UsageError(`no user '${name}'`);
    printOut(io, `removed user ${name}${tokens > 0 ? ` and ${tokens} active API token${tokens === 1 ? '' : 's'}` : ''}`);
  });
}

export async function userList(opts: CommonOptions & { json?: boolean }, io: Io): Promise<void> {
  await withStorage(opts, io, async ({ users }) => {
    const now = new Date();
    const active = new Map<string, number>();
    for (const t of await users.listTokens()) if (tokenState(t, now) === 'active') active.set(t.user, (active.get(t.user) ?? 0) + 1);
    const list = (await users.listUsers()).map(({ name, createdAt, updatedAt }) => ({ name, createdAt, passwordChangedAt: updatedAt, activeTokens: active.get(name) ?? 0 }));
    if (opts.json) return printOut(io, JSON.stringify(list, null, 2));
    if (list.length === 0) return printOut(io, 'No users. Add one with `pydepot user add NAME`.');
    for (const u of list) printOut(io, `${u.name}  created ${u.createdAt}  ${u.activeTokens} active token${u.activeTokens === 1 ? '' : 's'}`);
  });
}

interface TokenCreateOptions extends CommonOptions {
  user: string;
  repo?: string[];
  scope: string;
  expires?: string;
  description?: string;
}

/** Prints the token alone on stdout (`TOKEN=$(pydepot token create …)`), the rest on stderr. */
export async function tokenCreate(opts: TokenCreateOptions, io: Io): Promise<void> {
  if (opts.scope !== 'read' && opts.scope !== 'upload') throw new UsageError(`--scope must be read or upload, not '${opts.scope}'`);
  const now = new Date();
  const expiresAt = opts.expires === undefined ? null : parseExpiry(opts.expires, now);
  if (expiresAt === undefined) throw new UsageError(`--expires ${opts.expires}: expected a duration such as 90d, 12h, 2w or 1y, a future date (2027-06-30), or never`);
  await withStorage(opts, io, async ({ users }, config) => {
    if (!await users.getUser(opts.user)) throw new UsageError(`no user '${opts.user}'; add it with \`pydepot user add ${opts.user}\``);
    const repos = opts.repo && opts.repo.length > 0 ? [...new Set(opts.repo)] : null;
    for (const r of repos ?? []) {
      if (!config.repositories[r]) throw new UsageError(`--repo ${r}: no such repository (configured: ${Object.keys(config.repositories).join(', ')})`);
    }
    const { text, hash, id } = newToken();
    const row: TokenRow & { hash: string } = {
      id, hash, user: opts.user, repos, scope: opts.scope as TokenScope, description: opts.description ?? null,
      createdAt: now.toISOString(), expiresAt, revokedAt: null, lastUsedAt: null,
    };
    await users.addToken(row);
    printErr(io, `created token ${id} for ${opts.user}: ${opts.scope} on ${repos ? repos.join(', ') : 'every repository the user may use'}, ${expiresAt ? `expires ${expiresAt}` : 'never expires'}`);
    printErr(io, 'It is shown once; pydepot keeps only its hash. Use it as the password with the username __token__.');
    printOut(io, text);
  });
}

function tokenStatus(t: TokenRow, now: Date): string {
  const state = tokenState(t, now);
  if (state === 'revoked') return `revoked ${t.revokedAt}`;
  if (state === 'expired') return `expired ${t.expiresAt}`;
  return t.expiresAt ? `active until ${t.expiresAt}` : 'active';
}

export async function tokenList(opts: CommonOptions & { user?: string; json?: boolean }, io: Io): Promise<void> {
  await withStorage(opts, io, async ({ users }) => {
    const tokens = await users.listTokens(opts.user);
    if (opts.json) return printOut(io, JSON.stringify(tokens, null, 2));
    if (tokens.length === 0) return printOut(io, 'No API tokens.');
    const now = new Date();
    for (const t of tokens) {
      const repos = t.repos ? t.repos.join(',') : '*';
      const used = t.lastUsedAt ? `last used ${t.lastUsedAt}` : 'never used';
      printOut(io, `${t.id}  ${t.user}  ${t.scope}  repos=${repos}  ${tokenStatus(t, now)}  ${used}${t.description ? `  ${t.description}` : ''}`);
    }
  });
}

export async function tokenRevoke(id: string, opts: CommonOptions, io: Io): Promise<void> {
  await withStorage(opts, io, async ({ users }) => {
    if (!await users.revokeToken(id, new Date().toISOString())) {
      const known = (await users.listTokens()).some((t) => t.id === id);
      throw new UsageError(known ? `token ${id} was already revoked` : `no token '${id}' (see \`pydepot token list\`)`);
    }
    printOut(io, `revoked token ${id}`);
  });
}
