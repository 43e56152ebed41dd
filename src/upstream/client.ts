/**
 * HTTP to an index (an upstream, or pydepot itself for `wheels build`): timeouts, a descriptive User-Agent (PEP 381
 * etiquette), credentials only for the upstream's own origin, redirects,
 * and the proxy environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
 */
import type { Readable } from 'node:stream';
import { Agent, EnvHttpProxyAgent, errors, request, type Dispatcher } from 'undici';

export const USER_AGENT = 'pydepot/0.1 (+https://github.com/pydepot/pydepot)';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** Why an upstream request failed, in words an operator can act on. */
export class UpstreamRequestError extends Error {
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
    this.name = 'UpstreamRequestError';
  }
}

export interface UpstreamClientOptions {
  /** The index URL; may carry user:password. */
  url: string;
  timeoutSeconds: number;
  username: string | null;
  password: string | null;
}

export class UpstreamClient {
  readonly baseUrl: string;
  /** The index URL without credentials, for messages and logs. */
  readonly displayUrl: string;
  private readonly origin: string;
  private readonly authorization: string | null;
  private readonly agent: Dispatcher;
  private readonly timeoutMs: number;

  constructor(opts: UpstreamClientOptions) {
    const url = new URL(opts.url);
    const user = opts.username ?? (url.username ? decodeURIComponent(url.username) : null);
    const pass = opts.password ?? (url.password ? decodeURIComponent(url.password) : null);
    url.username = '';
    url.password = '';
    this.baseUrl = url.href;
    this.displayUrl = url.href;
    this.origin = url.origin;
    this.authorization = user !== null ? `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}` : null;
    this.timeoutMs = Math.max(1, opts.timeoutSeconds) * 1000;
    const agentOptions = { connectTimeout: this.timeoutMs, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, keepAliveTimeout: 30_000 };
    // The proxy-aware agent (NO_PROXY included) only when a proxy is configured.
    this.agent = usesProxy(process.env) ? new EnvHttpProxyAgent(agentOptions) : new Agent(agentOptions);
  }

  /** GET; resolves on any status, rejects with UpstreamRequestError when no answer came. */
  async get(url: string, headers: Record<string, string> = {}): Promise<UpstreamResponse> {
    const target = new URL(url);
    const h: Record<string, string> = { 'user-agent': USER_AGENT, ...headers };
    // Credentials go to the upstream index only, never to a CDN it links to.
    if (this.authorization && target.origin === this.origin) h.authorization = this.authorization;
    try {
      const res = await request(target, { method: 'GET', headers: h, dispatcher: this.agent, maxRedirections: 5 });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw describe(err, target);
    }
  }

  /**
   * POST (an upload) to `url`, never following a redirect: a file must reach
   * the URL given, as twine insists, and a redirected POST would silently
   * become a GET or resend the file elsewhere. Resolves on any status.
   */
  async post(url: string, body: FormData, headers: Record<string, string> = {}): Promise<UpstreamResponse> {
    const target = new URL(url);
    const h: Record<string, string> = { 'user-agent': USER_AGENT, ...headers };
    if (this.authorization && target.origin === this.origin) h.authorization = this.authorization;
    try {
      const res = await request(target, { method: 'POST', headers: h, body, dispatcher: this.agent, maxRedirections: 0 });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw describe(err, target);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

function usesProxy(env: NodeJS.ProcessEnv): boolean {
  return ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'].some((k) => (env[k] ?? '') !== '');
}

export function describe(err: unknown, target: URL): UpstreamRequestError {
  const where = `${target.origin}${target.pathname}`;
  if (err instanceof UpstreamRequestError) return err;
  if (err instanceof errors.ConnectTimeoutError || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return new UpstreamRequestError(`upstream ${where} timed out`, true);
  }
  const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
  const reason = code === 'ECONNREFUSED' ? 'refused the connection'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'could not be resolved (DNS)'
    : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'closed the connection'
    : `failed (${code ?? (err as Error).message})`;
  return new UpstreamRequestError(`upstream ${where} ${reason}`, false);
}
