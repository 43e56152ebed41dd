import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { makeBigWheel } from './make-wheel.ts';
import { multipart, upload, download } from './transfer.ts';

const work = mkdtempSync('/tmp/pydepot-prof-');
const w = await makeBigWheel(work, Number(process.env.MB ?? 512) * 1024 * 1024);
const profDir = `${work}/prof`;
const extra = process.env.PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
const proc = spawn(process.execPath, [...extra, '--import', 'tsx', 'bench/server-child.ts', `${work}/storage`], { stdio: ['pipe', 'pipe', 'inherit'] });
const url = await new Promise<string>((r) => createInterface({ input: proc.stdout! }).once('line', (l) => r(JSON.parse(l).url)));
const fields = { ':action': 'file_upload', protocol_version: '1', name: w.name, version: w.version, filetype: 'bdist_wheel', pyversion: 'py3', metadata_version: '2.1', sha256_digest: w.sha256 };
for (let i = 0; i < Number(process.env.N ?? 1); i++) {
  const t0 = performance.now();
  // watch when the request body finished sending
  const orig = http.request;
  let sentAt = 0;
  (http as any).request = (...a: any[]) => { const r = (orig as any)(...a); r.once('finish', () => { sentAt = performance.now(); }); return r; };
  const t = await upload(`${url}/bench/`, multipart(fields, w.filename), w);
  (http as any).request = orig;
  console.log(`upload ${(t.bytes / 1e6 / t.seconds).toFixed(0)} MB/s; body sent after ${((sentAt - t0) / 1000).toFixed(2)} s, answer after ${t.seconds.toFixed(2)} s`, t.status, t.body.trim());
}
if (process.env.DL) { const d = await download(`${url}/bench/files/${w.sha256}/${w.filename}`); console.log('download', (d.bytes / 1e6 / d.seconds).toFixed(0)); }
proc.kill('SIGTERM');
await new Promise((r) => proc.once('exit', r));
if (process.env.PROF) {
  const file = readdirSync(profDir)[0]!;
  const prof = JSON.parse(readFileSync(`${profDir}/${file}`, 'utf8'));
  const self = new Map<string, number>();
  const dt = new Map<number, number>();
  prof.samples.forEach((id: number, i: number) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  for (const n of prof.nodes) {
    const cf = n.callFrame; const k = `${cf.functionName || '(anon)'} ${cf.url.split('/').slice(-2).join('/')}:${cf.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + (dt.get(n.id) ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((v / 1000).toFixed(0).padStart(7), 'ms', (100 * v / total).toFixed(1).padStart(5), '%', k);
}
rmSync(work, { recursive: true, force: true });
