/**
 * The pure parts of `pydepot wheels build`: the end of a build log as the
 * summary shows it, the environment pip builds in, and the upload form.
 */
import test from 'ava';
import { parseCoreMetadata } from '../../src/pypi/core-metadata.ts';
import { parseDistFilename } from '../../src/pypi/filenames.ts';
import { uploadFields } from '../../src/upstream/legacy-upload.ts';
import { buildLogTail, pipEnvironment } from '../../src/wheelhouse/node-python.ts';

test("buildLogTail keeps the build's own last lines, without pip's closing boilerplate or traceback underlines", (t) => {
  const log = [
    'Processing ./acme_broken-1.0.tar.gz',
    ...Array.from({ length: 12 }, (_, i) => `      line ${i + 1}`),
    '        raise RuntimeError("no compiler")',
    '        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^',
    '      RuntimeError: no compiler',
    '      [end of output]',
    '',
    '  note: This error originates from a subprocess, and is likely not a problem with pip.',
    'error: metadata-generation-failed',
    '',
    '× Encountered error while generating package metadata.',
    '╰─> See above for output.',
    '',
    'note: This is an issue with the package mentioned above, not pip.',
    'hint: See above for details.',
  ].join('\n');
  t.deepEqual(buildLogTail(log, 6), [
    '      line 11',
    '      line 12',
    '        raise RuntimeError("no compiler")',
    '      RuntimeError: no compiler',
    'error: metadata-generation-failed',
    '× Encountered error while generating package metadata.',
  ]);
  t.deepEqual(buildLogTail('one\r\ntwo\rthree\n\n'), ['one', 'two', 'three']);
});

test('pipEnvironment: no inherited PIP_*, no config file, the index in the environment; trusted host for http only', (t) => {
  const base = { PATH: '/bin', HOME: '/root', PIP_FIND_LINKS: '/opt/wheels', PIP_INDEX_URL: 'https://elsewhere/simple/', PIP_REQUIRE_VIRTUALENV: '1' };
  const env = pipEnvironment(base, { indexUrl: 'http://__token__:s3cret@depot:8080/pypi/simple/', cacheDir: '/w/cache', tmpDir: '/w' });
  t.deepEqual(Object.keys(env).filter((k) => k.startsWith('PIP_')).sort(), [
    'PIP_CACHE_DIR', 'PIP_CONFIG_FILE', 'PIP_DISABLE_PIP_VERSION_CHECK', 'PIP_INDEX_URL', 'PIP_NO_INPUT', 'PIP_PROGRESS_BAR', 'PIP_TRUSTED_HOST',
  ]);
  t.like(env, { PATH: '/bin', HOME: '/root', PIP_CONFIG_FILE: '/dev/null', PIP_INDEX_URL: 'http://__token__:s3cret@depot:8080/pypi/simple/', PIP_TRUSTED_HOST: 'depot:8080', TMPDIR: '/w', PYTHONUNBUFFERED: '1' });
  const tls = pipEnvironment(base, { indexUrl: 'https://depot.example/simple/', cacheDir: '/c', tmpDir: '/t' });
  t.false('PIP_TRUSTED_HOST' in tls, 'an https index needs no trust');
  t.is(base.PIP_FIND_LINKS, '/opt/wheels', 'the caller\'s environment is not changed');
});

test("uploadFields: twine's field names, repeated fields repeated, the action and digest after the metadata", (t) => {
  const metadata = parseCoreMetadata([
    'Metadata-Version: 2.1',
    'Name: Acme.Fast',
    'Version: 1.0',
    'Summary: fast',
    'Requires-Python: >=3.8',
    'Requires-Dist: acme-core>=1',
    'Requires-Dist: acme-x ; extra == "x"',
    'Provides-Extra: x',
    'Classifier: Programming Language :: Python :: 3',
    'Project-URL: Source, https://example.invalid/src',
    'Description-Content-Type: text/markdown',
    'X-Unknown: dropped',
    '',
    '# Acme.Fast',
    '',
  ].join('\n'));
  const fields = uploadFields(parseDistFilename('acme_fast-1.0-py2.py3-none-any.whl'), metadata, 'ab'.repeat(32));
  t.deepEqual(fields, [
    ['metadata_version', '2.1'],
    ['name', 'Acme.Fast'],
    ['version', '1.0'],
    ['summary', 'fast'],
    ['requires_python', '>=3.8'],
    ['requires_dist', 'acme-core>=1'],
    ['requires_dist', 'acme-x ; extra == "x"'],
    ['provides_extra', 'x'],
    ['classifiers', 'Programming Language :: Python :: 3'],
    ['project_urls', 'Source, https://example.invalid/src'],
    ['description_content_type', 'text/markdown'],
    ['description', '# Acme.Fast\n'],
    [':action', 'file_upload'],
    ['protocol_version', '1'],
    ['filetype', 'bdist_wheel'],
    ['pyversion', 'py2.py3'],
    ['sha256_digest', 'ab'.repeat(32)],
  ]);
});
