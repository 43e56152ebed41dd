/**
 * The uploader every test server knows (server.ts seeds it): user `ci`, with
 * a password and an upload token for every repository. Configs name it in
 * `upload: [ci]`. A module of its own so that upload.ts needs nothing else.
 */
const TOKEN = `pydepot-${'c'.repeat(43)}`;

export const CI = {
  user: 'ci',
  password: 'ci-password',
  token: TOKEN,
  /** twine's credential flags. */
  twineArgs: ['-u', '__token__', '-p', TOKEN],
  /** The Authorization header for fetch. */
  basic: `Basic ${Buffer.from(`__token__:${TOKEN}`).toString('base64')}`,
} as const;
