/**
 * Who may read or upload, decided in one pure function. A user's rights
 * come from the repository's `read`/`upload` audience; a token can only
 * narrow its owner's rights (fewer repositories, read-only), never widen them.
 */
import type { Audience } from '../config/schema.ts';
import type { TokenRow } from '../storage/types.ts';

export type Action = 'read' | 'upload';

/** Someone whose credentials verified. `token`: null when they gave their password. */
export interface Identity {
  user: string;
  token: Pick<TokenRow, 'id' | 'repos' | 'scope'> | null;
}

export interface AccessRequest {
  action: Action;
  /** The repository named in the URL. */
  repo: string;
  /** For an upload through a virtual repository: the local repository that stores it. */
  storedIn?: string;
}

export type AccessDecision =
  | { allow: true }
  | { allow: false; status: 401 | 403; reason: string };

const VERB: Record<Action, string> = { read: 'read', upload: 'upload to' };

export function decideAccess(req: AccessRequest, audience: Audience, who: Identity | null): AccessDecision {
  const { action, repo } = req;
  const target = req.storedIn ?? repo;
  if (audience.kind === 'anonymous') return { allow: true };
  if (audience.kind === 'users' && audience.users.length === 0) {
    // Asking for credentials would be pointless: nobody has this right.
    return deny(403, `Repository '${target}' accepts ${action === 'upload' ? 'uploads' : 'reads'} from nobody: an operator must name users in repositories.${target}.${action}.`);
  }
  if (!who) {
    return deny(401, action === 'read'
      ? `Repository '${repo}' needs credentials to read: give pip a username and password or an API token (username __token__), in the index URL, .netrc or keyring.`
      : `Repository '${target}' needs credentials to upload: use twine -u __token__ -p <API token>.`);
  }
  if (audience.kind === 'users' && !audience.users.includes(who.user)) {
    return deny(403, `User '${who.user}' may not ${VERB[action]} repository '${target}'.`);
  }
  const token = who.token;
  if (token?.repos && !token.repos.includes(repo) && !token.repos.includes(target)) {
    return deny(403, `This API token is limited to ${token.repos.map((r) => `'${r}'`).join(', ')}; it may not ${VERB[action]} repository '${repo}'.`);
  }
  if (token && action === 'upload' && token.scope === 'read') {
    return deny(403, `This API token is read-only; it may not upload to repository '${target}'. Create one with --scope upload.`);
  }
  return { allow: true };
}

function deny(status: 401 | 403, reason: string): AccessDecision {
  return { allow: false, status, reason };
}
