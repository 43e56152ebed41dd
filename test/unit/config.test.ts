import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import test from 'ava';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../src/config/load.ts';
import { parseConfig } from '../../src/config/schema.ts';

test('an empty file gives a complete config with every default', (t) => {
  const c = parseConfig({});
  t.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
  t.is(c.storage, './storage');
  t.is(c.defaultRepository, 'internal');
  t.deepEqual(c.repositories.internal, {
    type: 'local', overwrite: false, maxFileSize: 2 * 1024 ** 3, indexMaxAge: 0,
    read: { kind: 'anonymous' }, upload: { kind: 'users', users: [] },
  });
  t.deepEqual(c.auth, { failedLoginsPerMinute: 30, trustProxy: false });
  t.is(c.log.level, 'info');
  t.is(c.tls, null);
  t.deepEqual(c.blobs, { type: 'fs' });
  t.deepEqual(c.ui, { enabled: true, sessionLifetime: 12 * 3600, sessionSecret: null });
  t.deepEqual(parseConfig({ ui: { enabled: false, sessionLifetime: '30m', sessionSecret: 's'.repeat(32) } }).ui, { enabled: false, sessionLifetime: 1800, sessionSecret: 's'.repeat(32) });
});

test('the embedded config/default.yaml loads and has the three repository kinds', (t) => {
  const c = loadConfig(DEFAULT_CONFIG_FILE, {}, {});
  t.deepEqual(Object.fromEntries(Object.entries(c.repositories).map(([k, v]) => [k, v.type])), { internal: 'local', pypi: 'remote', all: 'virtual' });
  t.is(c.storage, resolve('storage'));
  t.deepEqual(c.listen, { host: '127.0.0.1', port: 8080 });
  t.is(c.defaultRepository, 'all', '/simple/ serves the merged view');
});

test('an uploadTo inside a nested member is accepted; mergeUpstream names are normalized', (t) => {
  const c = parseConfig({ repositories: {
    l: { type: 'local' },
    team: { type: 'virtual', members: ['l'] },
    all: { type: 'virtual', members: ['team'], uploadTo: 'l', mergeUpstream: ['Acme_Utils'] },
  } });
  t.like(c.repositories.all, { uploadTo: 'l', mergeUpstream: ['acme-utils'] });
});

const BAD: [string, unknown, RegExp][] = [
  ['unknown top-level key', { listne: '1.2.3.4:80' }, /'listne': unknown key/],
  ['unknown repository key', { repositories: { r: { type: 'local', overwrites: true } } }, /'repositories\.r\.overwrites': unknown key/],
  ['bad type', { repositories: { r: { type: 's3' } } }, /'repositories\.r\.type': expected one of local, remote, virtual/],
  ['bad listen', { listen: 'localhost' }, /'listen': expected HOST:PORT/],
  ['short session secret', { ui: { sessionSecret: 'too-short' } }, /'ui\.sessionSecret': must be at least 32 characters/],
  ['short session lifetime', { ui: { sessionLifetime: 10 } }, /'ui\.sessionLifetime': must be at least a minute/],
  ['unknown ui key', { ui: { theme: 'dark' } }, /'ui\.theme': unknown key/],
  ['bad size', { repositories: { r: { type: 'local', maxFileSize: 'lots' } } }, /'repositories\.r\.maxFileSize'/],
  ['bad bool', { repositories: { r: { type: 'local', overwrite: 'yes' } } }, /'repositories\.r\.overwrite': expected true or false/],
  ['bad ttl', { repositories: { r: { type: 'remote', indexTtl: -1 } } }, /'repositories\.r\.indexTtl'/],
  ['bad url', { repositories: { r: { type: 'remote', url: 'ftp://x/' } } }, /'repositories\.r\.url': must be an http/],
  ['reserved name', { repositories: { simple: { type: 'local' } } }, /'repositories\.simple'/],
  ['unknown default', { defaultRepository: 'nope' }, /'defaultRepository': no repository named 'nope'/],
  ['unknown member', { repositories: { a: { type: 'virtual', members: ['b'] } } }, /'repositories\.a\.members': unknown repository 'b'/],
  ['cycle', { repositories: { a: { type: 'virtual', members: ['b'] }, b: { type: 'virtual', members: ['a'] } } }, /cycle a -> b -> a/],
  ['uploadTo not local', { repositories: { p: { type: 'remote' }, a: { type: 'virtual', members: ['p'], uploadTo: 'p' } } }, /'repositories\.a\.uploadTo'/],
  ['uploadTo not a member', { repositories: { l: { type: 'local' }, m: { type: 'local' }, a: { type: 'virtual', members: ['m'], uploadTo: 'l' } } }, /'repositories\.a\.uploadTo': 'l' is not one of its members/],
  ['no members', { repositories: { a: { type: 'virtual', members: [] } } }, /'repositories\.a\.members': a virtual repository needs at least one member/],
  ['a member twice', { repositories: { l: { type: 'local' }, a: { type: 'virtual', members: ['l', 'l'] } } }, /'repositories\.a\.members': a member is listed twice/],
  ['a bad internal pattern', { repositories: { l: { type: 'local' }, a: { type: 'virtual', members: ['l'], internal: ['acme/*'] } } }, /'repositories\.a\.internal': "acme\/\*" is not a name pattern/],
  ['a pattern in mergeUpstream', { repositories: { l: { type: 'local' }, a: { type: 'virtual', members: ['l'], mergeUpstream: ['acme-*'] } } }, /'repositories\.a\.mergeUpstream': "acme-\*" is not a project name/],
  ['log level', { log: { level: 'loud' } }, /'log\.level'/],
  ['tls without a key', { tls: { cert: 'cert.pem' } }, /'tls\.key': missing \(required\)/],
  ['tls without a certificate', { tls: { key: 'key.pem' } }, /'tls\.cert': missing \(required\)/],
  ['an empty tls path', { tls: { cert: '', key: 'key.pem' } }, /'tls\.cert': expected a non-empty string/],
  ['an unknown tls key', { tls: { cert: 'cert.pem', key: 'key.pem', ca: 'ca.pem' } }, /'tls\.ca': unknown key/],
  ['tls that is not a mapping', { tls: 'on' }, /'tls': expected a mapping/],
  ['a read audience that is not one', { repositories: { r: { type: 'local', read: 'everyone' } } }, /'repositories\.r\.read': expected anonymous, authenticated or a list of user names/],
  ['a bad user name in upload', { repositories: { r: { type: 'local', upload: ['al ice'] } } }, /'repositories\.r\.upload': expected anonymous, authenticated or a list of user names/],
  ['__token__ as a user', { repositories: { r: { type: 'local', upload: ['__token__'] } } }, /'repositories\.r\.upload'/],
  ['upload on a remote', { repositories: { r: { type: 'remote', upload: ['alice'] } } }, /'repositories\.r\.upload': a remote repository accepts no uploads/],
  ['upload on a virtual', { repositories: { l: { type: 'local' }, a: { type: 'virtual', members: ['l'], upload: ['alice'] } } }, /'repositories\.a\.upload': uploads to a virtual repository go to its 'uploadTo' repository/],
  ['a zero failed-login budget', { auth: { failedLoginsPerMinute: 0 } }, /'auth\.failedLoginsPerMinute': expected a whole number >= 1/],
  ['an unknown auth key', { auth: { realm: 'x' } }, /'auth\.realm': unknown key/],
  ['a zero headersTimeout', { limits: { headersTimeout: 0 } }, /'limits\.headersTimeout': must be more than 0/],
  ['a bodyMinRate that is no size', { limits: { bodyMinRate: 'slow' } }, /'limits\.bodyMinRate': expected a size/],
  ['a negative bodyMinRate', { limits: { bodyMinRate: -1 } }, /'limits\.bodyMinRate'/],
  ['an unknown blobs type', { blobs: { type: 'gcs' } }, /'blobs\.type': expected one of fs, s3/],
  ['s3 blobs without a bucket', { blobs: { type: 's3' } }, /'blobs\.bucket': missing \(required\)/],
  ['a bad bucket name', { blobs: { type: 's3', bucket: 'my bucket' } }, /'blobs\.bucket': not a bucket name/],
  ['an endpoint that is no http URL', { blobs: { type: 's3', bucket: 'b1', endpoint: 'minio:9000' } }, /'blobs\.endpoint': expected an http or https URL/],
  ['credentials in the endpoint', { blobs: { type: 's3', bucket: 'b1', endpoint: 'http://key:secret@minio:9000' } }, /'blobs\.endpoint': credentials do not go in the URL/],
  ['a part size below S3\'s minimum', { blobs: { type: 's3', bucket: 'b1', partSize: '1MiB' } }, /'blobs\.partSize': S3 takes parts of 5MiB to 5GiB/],
  ['a prefix with an empty segment', { blobs: { type: 's3', bucket: 'b1', prefix: 'a//b' } }, /'blobs\.prefix'/],
  ['a prefix with ..', { blobs: { type: 's3', bucket: 'b1', prefix: 'a/../b' } }, /'blobs\.prefix'/],
  ['an unknown s3 key', { blobs: { type: 's3', bucket: 'b1', accessKeyId: 'AKIA' } }, /'blobs\.accessKeyId': unknown key/],
  ['a key given to fs blobs', { blobs: { type: 'fs', bucket: 'b1' } }, /'blobs\.bucket': unknown key/],
  ['a short form that is no s3 URL', { blobs: 'https://bucket/prefix' }, /'blobs': expected a mapping or s3:\/\/BUCKET\/PREFIX/],
  ['an unknown option in the short form', { blobs: 's3://b1/p?pathStyle=true' }, /'blobs\.pathStyle': unknown key/],
  ['a bad option value in the short form', { blobs: 's3://b1/p?forcePathStyle=yes' }, /'blobs\.forcePathStyle': expected true or false/],
  ['credentials in the short form', { blobs: 's3://key:secret@b1/p' }, /'blobs': credentials do not go in the URL/],
  ['a cooldown that is no duration', { repositories: { r: { type: 'remote', cooldown: '7 days' } } }, /'repositories\.r\.cooldown': expected a duration such as 7d/],
  ['a negative cooldown', { repositories: { r: { type: 'remote', cooldown: -1 } } }, /'repositories\.r\.cooldown'/],
  ['a cooldown on a virtual repository that is no duration', { repositories: { l: { type: 'local' }, a: { type: 'virtual', members: ['l'], cooldown: '1x' } } }, /'repositories\.a\.cooldown'/],
  ['a cooldown on a local repository', { repositories: { r: { type: 'local', cooldown: '7d' } } }, /'repositories\.r\.cooldown': a hosted repository's own uploads are never delayed/],
  ['a fractional metadataReleases', { repositories: { r: { type: 'remote', metadataReleases: 1.5 } } }, /'repositories\.r\.metadataReleases': expected a whole number >= 0/],
  ['a negative metadataReleases', { repositories: { r: { type: 'remote', metadataReleases: -1 } } }, /'repositories\.r\.metadataReleases'/],
];

for (const [title, raw, message] of BAD) {
  test(`rejects ${title}, naming the key`, (t) => {
    t.throws(() => parseConfig(raw), { name: 'ConfigError', message });
  });
}

test('blobs: fs by default; s3 with its defaults; the short form s3://bucket/prefix?… means the same', (t) => {
  t.deepEqual(parseConfig({ blobs: { type: 'fs' } }).blobs, { type: 'fs' });
  t.deepEqual(parseConfig({ blobs: { type: 's3', bucket: 'depot' } }).blobs, {
    type: 's3', endpoint: null, bucket: 'depot', region: 'us-east-1', prefix: '', forcePathStyle: false, partSize: 8 * 1024 ** 2,
  });
  const full = {
    type: 's3', endpoint: 'http://minio:9000', bucket: 'depot', region: 'eu-west-1', prefix: 'team/a', forcePathStyle: true, partSize: 16 * 1024 ** 2,
  };
  t.deepEqual(parseConfig({ blobs: { ...full, prefix: '/team/a/', partSize: '16MiB' } }).blobs, full, 'slashes around the prefix are dropped');
  t.deepEqual(
    parseConfig({ blobs: 's3://depot/team/a?endpoint=http://minio:9000&region=eu-west-1&forcePathStyle=true&partSize=16MiB' }).blobs,
    full,
  );
  t.like(parseConfig({ blobs: 's3://depot' }).blobs, { type: 's3', bucket: 'depot', prefix: '', endpoint: null });
});

test('metadataReleases: 3 newest releases by default; 0 reads core metadata on demand only', (t) => {
  const read = (raw: Record<string, unknown>) => {
    const r = parseConfig({ repositories: { r: { type: 'remote', ...raw } } }).repositories.r!;
    return r.type === 'remote' ? r.metadataReleases : null;
  };
  t.is(read({}), 3);
  t.is(read({ metadataReleases: 0 }), 0);
  t.is(read({ metadataReleases: 10 }), 10);
});

test('limits: defaults, units, and bodyMinRate 0 turns the minimum off', (t) => {
  t.deepEqual(parseConfig({}).limits, { bodyIdleTimeout: 60, missesPerMinute: 120, bodyMinRate: 1024, headersTimeout: 60 });
  t.deepEqual(parseConfig({ limits: { headersTimeout: 2.5, bodyMinRate: '4KiB' } }).limits, { bodyIdleTimeout: 60, missesPerMinute: 120, bodyMinRate: 4096, headersTimeout: 2.5 });
  t.is(parseConfig({ limits: { bodyMinRate: 0 } }).limits.bodyMinRate, 0);
});

test('read and upload: anonymous, authenticated, or a list of users (repeats dropped)', (t) => {
  const c = parseConfig({ repositories: {
    l: { type: 'local', read: 'authenticated', upload: ['alice', 'bob', 'alice'] },
    p: { type: 'remote', read: ['carol'] },
    a: { type: 'virtual', members: ['l', 'p'] },
  } });
  t.like(c.repositories.l, { read: { kind: 'authenticated' }, upload: { kind: 'users', users: ['alice', 'bob'] } });
  t.like(c.repositories.p, { read: { kind: 'users', users: ['carol'] }, upload: { kind: 'users', users: [] } });
  t.like(c.repositories.a, { read: { kind: 'anonymous' } });
  t.like(parseConfig({ repositories: { l: { type: 'local', upload: 'anonymous' } } }).repositories.l, { upload: { kind: 'anonymous' } });
});

test('tls paths are resolved against the working directory, like storage; tls: left empty means plain HTTP', async (t) => {
  t.deepEqual(parseConfig({ tls: { cert: 'c.pem', key: '/etc/k.pem' } }).tls, { cert: 'c.pem', key: '/etc/k.pem' });
  t.is(parseConfig({ tls: null }).tls, null);
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'tls:\n  cert: tls/cert.pem\n  key: /etc/pydepot/key.pem\n');
  t.deepEqual(loadConfig(file, {}, {}).tls, { cert: resolve('tls/cert.pem'), key: '/etc/pydepot/key.pem' });
});

test('cooldown: a duration (7d, 12h, 2w) or seconds; 0 and absent are off', (t) => {
  const cooldownOf = (v: unknown) => (parseConfig({ repositories: { r: { type: 'remote', ...(v === undefined ? {} : { cooldown: v }) } } }).repositories.r as { cooldown: number }).cooldown;
  t.is(cooldownOf('7d'), 7 * 86_400);
  t.is(cooldownOf('12h'), 12 * 3600);
  t.is(cooldownOf('2w'), 14 * 86_400);
  t.is(cooldownOf(3600), 3600);
  t.is(cooldownOf(0), 0);
  t.is(cooldownOf('0'), 0);
  t.is(cooldownOf(undefined), 0);
  const v = parseConfig({ repositories: { p: { type: 'remote' }, a: { type: 'virtual', members: ['p'], cooldown: '3d' } } }).repositories.a;
  t.like(v, { cooldown: 3 * 86_400 });
});

test('sizes accept units', (t) => {
  const c = parseConfig({ repositories: { r: { type: 'local', maxFileSize: '100MiB' } } });
  t.is((c.repositories.r as { maxFileSize: number }).maxFileSize, 100 * 1024 * 1024);
});

test('workers: 1 by default, a count, or auto (one per core); leaseTtl 30 s by default, more than 0', (t) => {
  const c = parseConfig({});
  t.is(c.workers, 1);
  t.is(c.leaseTtl, 30);
  t.is(parseConfig({ workers: 3 }).workers, 3);
  t.is(parseConfig({ workers: 'auto' }).workers, availableParallelism());
  t.is(parseConfig({ leaseTtl: 0.5 }).leaseTtl, 0.5);
  t.throws(() => parseConfig({ workers: 0 }), { message: /config key 'workers'/ });
  t.throws(() => parseConfig({ workers: 'all' }), { message: /config key 'workers': expected a whole number >= 1 or auto/ });
  t.throws(() => parseConfig({ leaseTtl: 0 }), { message: /config key 'leaseTtl': must be more than 0/ });
});

test('sendfileOffload: off by default; nginx or a mapping with a prefix; with S3 blobs a ConfigError', (t) => {
  t.is(parseConfig({}).sendfileOffload, null);
  t.is(parseConfig({ sendfileOffload: 'off' }).sendfileOffload, null);
  t.is(parseConfig({ sendfileOffload: false }).sendfileOffload, null);
  t.deepEqual(parseConfig({ sendfileOffload: 'nginx' }).sendfileOffload, { type: 'nginx', prefix: '/_pydepot_blobs/' });
  t.deepEqual(parseConfig({ sendfileOffload: { type: 'nginx', prefix: '/internal/blobs/' } }).sendfileOffload, { type: 'nginx', prefix: '/internal/blobs/' });
  t.is(parseConfig({ sendfileOffload: { type: 'off' } }).sendfileOffload, null);
  t.throws(() => parseConfig({ sendfileOffload: 'apache' }), { message: /config key 'sendfileOffload': expected nginx, off or a mapping/ });
  t.throws(() => parseConfig({ sendfileOffload: true }), { message: /config key 'sendfileOffload': expected nginx, off or a mapping/ });
  t.throws(() => parseConfig({ sendfileOffload: { prefix: 'blobs' } }), { message: /config key 'sendfileOffload\.prefix': expected a URI path starting and ending with '\/'/ });
  t.throws(() => parseConfig({ sendfileOffload: { prefix: '/a b/' } }), { message: /'sendfileOffload\.prefix'/ });
  t.throws(() => parseConfig({ sendfileOffload: { type: 'nginx', root: '/x' } }), { message: /sendfileOffload\.root/ });
  t.throws(() => parseConfig({ sendfileOffload: 'nginx', blobs: 's3://bucket/prefix' }), { message: /config key 'sendfileOffload': needs `blobs: \{type: fs\}`/ });
});

test('PYDEPOT_LISTEN and PYDEPOT_STORAGE override the file; flags override both', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(file, 'listen: 127.0.0.1:9000\nstorage: /srv/a\n');
  const env = { PYDEPOT_LISTEN: '0.0.0.0:9001', PYDEPOT_STORAGE: '/srv/b' };
  t.like(loadConfig(file, {}, {}), { listen: { host: '127.0.0.1', port: 9000 }, storage: '/srv/a' });
  t.like(loadConfig(file, {}, env), { listen: { host: '0.0.0.0', port: 9001 }, storage: '/srv/b' });
  t.like(loadConfig(file, { listen: '[::1]:9002', storage: '/srv/c' }, env), { listen: { host: '::1', port: 9002 }, storage: '/srv/c' });
  t.throws(() => loadConfig(file, {}, { PYDEPOT_LISTEN: 'nope' }), { message: /PYDEPOT_LISTEN/ });
});

test('a file that is not YAML, or missing, fails with its name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  await writeFile(file, 'listen: [unclosed\n');
  t.throws(() => loadConfig(file, {}, {}), { message: /bad\.yaml is not valid YAML/ });
  t.throws(() => loadConfig(join(dir, 'missing.yaml'), {}, {}), { message: /cannot read config file .*missing\.yaml/ });
});

test('database: SQLite in the storage folder by default; a postgres:// URL with its pool size; anything else names the key', (t) => {
  t.is(parseConfig({}).database, null);
  t.is(parseConfig({ database: 'sqlite' }).database, null);
  t.deepEqual(parseConfig({ database: 'postgres://pydepot@db:5432/pydepot' }).database, { url: 'postgres://pydepot@db:5432/pydepot', poolSize: 10 });
  t.deepEqual(parseConfig({ database: 'postgresql://db/p', databasePoolSize: 4 }).database, { url: 'postgresql://db/p', poolSize: 4 });
  t.throws(() => parseConfig({ database: 'mysql://db/p' }), { message: /'database': expected sqlite or a postgres:\/\/ URL/ });
  // The password never reaches the message.
  const bad = t.throws(() => parseConfig({ database: 'postgres://u:secret@ host/p' }));
  t.notRegex(bad!.message, /secret/);
  t.throws(() => parseConfig({ databasePoolSize: 4 }), { message: /'databasePoolSize': applies only with `database: postgres/ });
  t.throws(() => parseConfig({ database: 'postgres://db/p', databasePoolSize: 0 }), { message: /databasePoolSize/ });
});
