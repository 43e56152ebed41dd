// Layer rules for src/, checked by `npm run deps` (part of `npm test`).
// Layers, bottom → top: errors/time/log/metrics/format/crash-points → pypi, storage → config →
// upstream, upload, auth → repos → http, commands → server → cli → main.
// Every path below is relative to the repo root; node: builtins and npm
// packages are never under ^src/, so the "only from" rules leave them allowed.
import { getAvailableTranspilers } from 'dependency-cruiser';

// TypeScript 7 has no JS compiler API, so dependency-cruiser reads .ts files
// with @swc/core. Without swc it would silently cruise 0 modules and pass.
if (!getAvailableTranspilers().some((t) => t.name === 'swc' && t.available)) {
  throw new Error('dependency-cruiser cannot load @swc/core (>=1 <2): run `npm ci`; without it no .ts file is checked');
}

// "may import only from these src/ places": anything else under src/ is forbidden.
const onlyFrom = (name, comment, from, allowed) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: '^src/', pathNot: allowed },
});

// "may not import these src/ places".
const notFrom = (name, comment, from, forbidden) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from },
  to: { path: forbidden },
});

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle (type-only ones too) makes both sides one layer: nothing in it can be understood or tested alone.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    // crash-points.ts is the test-only crash hook (PYDEPOT_CRASH_AT) that the
    // storage, upstream and repository steps call: a leaf, so any layer may.
    notFrom('leaves-import-nothing',
      'errors, time, log, metrics, format and crash-points sit under everything, so anything they import from src/ points upward.',
      '^src/(errors|time|log|metrics|format|crash-points)\\.ts$', '^src/'),
    onlyFrom('pypi-is-pure-protocol',
      'src/pypi is the PEP 503/691/440 vocabulary; it must not know about repositories, storage or HTTP.',
      '^src/pypi/', '^src/(pypi/|errors\\.ts$)'),
    onlyFrom('resolve-is-pure',
      'The resolver decides what pip would install for a target from pages and metadata it is given: no I/O, no repositories.',
      '^src/resolve/', '^src/(resolve/|pypi/|errors\\.ts$)'),
    onlyFrom('storage-is-self-contained',
      'Storage persists what it is given; domain rules (versions, repositories) belong to the layers above it.',
      '^src/storage/', '^src/(storage/|(errors|crash-points)\\.ts$)'),
    onlyFrom('config-only-below',
      'Config is read before anything is built, so it may use only the protocol and the leaves.',
      '^src/config/', '^src/(config/|pypi/|(errors|log|time)\\.ts$)'),
    onlyFrom('upstream-only-below',
      'The PyPI client fetches and caches; it must not reach into repositories, auth or HTTP.',
      '^src/upstream/', '^src/(upstream/|pypi/|storage/|(errors|log|metrics|crash-points)\\.ts$)'),
    onlyFrom('upload-only-below',
      'Upload inspects and stores files; who may upload where is decided by the layers above.',
      '^src/upload/', '^src/(upload/|pypi/|storage/|errors\\.ts$)'),
    onlyFrom('auth-only-below',
      'Access control is decided from users, tokens and config alone, not from repositories or requests.',
      '^src/auth/', '^src/(auth/|storage/|config/|(errors|time|log|metrics)\\.ts$)'),
    {
      name: 'auth-without-koa',
      comment: 'Auth decides from credentials, not requests: src/http adapts Koa to it, so auth never needs the web framework.',
      severity: 'error',
      from: { path: '^src/auth/' },
      to: { path: '^node_modules/(@types/)?(koa[^/]*|@koa/[^/]+)/' },
    },
    notFrom('repos-below-entry-points',
      'Repositories are the domain model that HTTP, commands and auth build on, never the other way round.',
      '^src/repos/', '^src/(http/|commands/|auth/|wheelhouse/|(server|cli|main)\\.ts$)'),
    notFrom('wheelhouse-below-front-ends',
      'Wheelhouses are built from repositories and the resolver; HTTP and the CLI call them, never the reverse.',
      '^src/wheelhouse/', '^src/(http/|commands/|auth/|(server|cli|main)\\.ts$)'),
    notFrom('http-beside-commands',
      'HTTP handlers and CLI commands are sibling front ends; neither may reach into the other or the entry points.',
      '^src/http/', '^src/(commands/|(server|cli|main)\\.ts$)'),
    {
      name: 'ui-beside-routes',
      comment: 'The web UI is a front end beside the index routes: app.ts mounts it, and nothing else (no route, middleware or lower layer) reaches into it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/http/(app\\.ts$|ui/)' },
      to: { path: '^src/http/ui/' },
    },
    notFrom('commands-beside-http',
      'CLI commands work on repositories directly; serving over HTTP is only the cli/server entry point\'s job.',
      '^src/commands/', '^src/(http/|(server|cli|main)\\.ts$)'),
    {
      name: 'only-main-imports-cli',
      comment: 'cli.ts is the entry point\'s argument parser; main.ts is its only caller.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/main\\.ts$' },
      to: { path: '^src/cli\\.ts$' },
    },
    {
      name: 'only-cli-imports-server',
      comment: 'server.ts wires the whole app together; only the CLI starts it (tests and bench are outside src/).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli\\.ts$' },
      to: { path: '^src/server\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import the checker cannot resolve escapes every rule above, so it must fail loudly instead.',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // Parse .ts with swc: type-only imports are kept as ordinary edges, so
    // `import type` upward or in a cycle is reported like any other import.
    // Not seen: inline type imports, `type R = import('../x.ts').R` (swc
    // extraction skips types); write them as `import type` lines instead.
    parser: 'swc',
    // Should a typescript < 7 be installed, dependency-cruiser switches to tsc;
    // true keeps type-only imports counted there as well.
    tsPreCompilationDeps: true,
    // Record npm packages as edges (for auth-without-koa) but do not crawl them.
    doNotFollow: { path: 'node_modules' },
    // No tsConfig here on purpose: reading it needs the TS 5 JS API; the
    // repo's relative '.ts' specifiers resolve without it.
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      // Resolve packages as Node does, through their package.json `exports`
      // (dependency-cruiser ignores them by default): a subpath import such as
      // 'stream-json/core/parser.js' is resolvable only there.
      exportsFields: ['exports'],
      conditionNames: ['import', 'node', 'default'],
    },
  },
};
