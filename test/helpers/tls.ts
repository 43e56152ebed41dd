/**
 * A throwaway CA and a server certificate it signed for 127.0.0.1 and
 * localhost, made with the openssl CLI in a temp dir removed after the test.
 *
 * The extensions are spelled out (and the system openssl.cnf is not read)
 * because clients differ in what they demand: Python >= 3.13's default
 * context verifies with X509_STRICT, which wants key usages and key
 * identifiers on both certificates.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { describe, run } from './clients.ts';
import { tempDir } from './server.ts';

export interface TestCertificates {
  /** The CA certificate: what clients are told to trust. */
  caCert: string;
  /** The CA's key: it does not match `cert`, which mismatch tests need. */
  caKey: string;
  /** The server certificate (PEM), signed by the CA. */
  cert: string;
  /** The server certificate's key (PEM, unencrypted). */
  key: string;
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = pydepot test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`;

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeTestCertificates(t: ExecutionContext): Promise<TestCertificates> {
  const dir = await tempDir(t, 'pydepot-tls-');
  const cnf = join(dir, 'openssl.cnf');
  await writeFile(cnf, OPENSSL_CNF);
  const at = (name: string) => join(dir, name);
  const openssl = async (args: string[]): Promise<void> => {
    const r = await run('openssl', args, { cwd: dir, env: { OPENSSL_CONF: cnf }, timeoutMs: 60_000 });
    if (r.code === 127) throw new Error('openssl is not installed: apt-get install -y openssl');
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${describe(r)}`);
  };
  await openssl(['req', '-x509', '-config', cnf, '-extensions', 'ca', ...EC_KEY, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2']);
  await openssl(['req', '-new', '-config', cnf, ...EC_KEY, '-subj', '/CN=127.0.0.1', '-keyout', at('server.key'), '-out', at('server.csr')]);
  await openssl(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-set_serial', '2',
    '-extfile', cnf, '-extensions', 'server', '-days', '2', '-out', at('server.pem')]);
  return { caCert: at('ca.pem'), caKey: at('ca.key'), cert: at('server.pem'), key: at('server.key') };
}

/**
 * A self-signed certificate for 127.0.0.1 that expired in 2020, and its key:
 * `openssl ca` is the one openssl 3.0 command that takes explicit dates.
 */
export async function makeExpiredCertificate(t: ExecutionContext): Promise<{ cert: string; key: string }> {
  const dir = await tempDir(t, 'pydepot-tls-');
  const cnf = join(dir, 'ca.cnf');
  await writeFile(cnf, `[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = 127.0.0.1\n`);
  await writeFile(join(dir, 'index.txt'), '');
  await writeFile(join(dir, 'serial'), '01\n');
  const openssl = async (args: string[]): Promise<void> => {
    const r = await run('openssl', args, { cwd: dir, env: { OPENSSL_CONF: cnf }, timeoutMs: 60_000 });
    if (r.code === 127) throw new Error('openssl is not installed: apt-get install -y openssl');
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${describe(r)}`);
  };
  await openssl(['req', '-new', '-config', cnf, ...EC_KEY, '-keyout', 'key.pem', '-out', 'req.csr']);
  await openssl(['ca', '-batch', '-config', cnf, '-selfsign', '-keyfile', 'key.pem', '-in', 'req.csr',
    '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext', '-out', 'cert.pem']);
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}
