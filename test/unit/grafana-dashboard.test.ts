/**
 * deploy/grafana-dashboard.json must only query metrics a running pydepot
 * exports: a renamed or removed metric fails here, not on an operator's empty
 * panel. The names come from a real server's /-/metrics (every registered
 * family has its `# TYPE` line there, observed or not).
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { startTestServer } from '../helpers/server.ts';

interface Target { expr?: string; datasource?: { type?: string; uid?: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type?: string; uid?: string }; targets?: Target[]; panels?: Panel[] }
interface Dashboard {
  schemaVersion: number;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; datasource?: { uid?: string } }[] };
}

const dashboardUrl = new URL('../../deploy/grafana-dashboard.json', import.meta.url);

async function dashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(dashboardUrl, 'utf8')) as Dashboard;
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** Every PromQL expression of the dashboard: panel targets and query variables. */
function expressions(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const p of allPanels(d.panels)) for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel '${p.title}'`, expr: t.expr });
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : (v.query as { query: string }).query;
    out.push({ where: `variable '${v.name}'`, expr: q });
  }
  return out;
}

/** The series names a scrape's families stand for (a histogram's _bucket, _sum and _count). */
function exported(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const m of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}

test('every metric the Grafana dashboard queries is one a running pydepot exports', async (t) => {
  const s = await startTestServer(t, {
    repositories: {
      internal: { type: 'local', upload: ['ci'] },
      pypi: { type: 'remote', url: 'http://127.0.0.1:9/simple/', maxCacheSize: '1GiB' },
      all: { type: 'virtual', members: ['internal', 'pypi'] },
    },
    defaultRepository: 'all',
  });
  const res = await fetch(`${s.url}/-/metrics`);
  t.is(res.status, 200);
  const names = exported(await res.text());
  t.true(names.has('pydepot_http_requests_total'), 'the scrape lists the families');

  const d = await dashboard();
  const exprs = expressions(d);
  t.true(exprs.length > 20);
  const unknown: string[] = [];
  const used = new Set<string>();
  for (const { where, expr } of exprs) {
    const found = [...expr.matchAll(/\bpydepot_[a-zA-Z0-9_:]*/g)].map((m) => m[0]);
    // Every query is on pydepot's own metrics (so this check covers it).
    t.true(found.length > 0, `${where} queries no pydepot_ metric: ${expr}`);
    for (const n of found) {
      used.add(n);
      if (!names.has(n)) unknown.push(`${where}: ${n}`);
    }
  }
  t.deepEqual(unknown, [], 'metrics the dashboard uses but pydepot does not export');
  // What the dashboard is for (issues 15 and 16): each of these has a panel.
  for (const n of [
    'pydepot_http_request_duration_seconds_bucket', 'pydepot_cache_lookups_total', 'pydepot_files_served_bytes_total', 'pydepot_cache_size_bytes',
    'pydepot_cache_limit_bytes', 'pydepot_cache_evictions_total', 'pydepot_scrub_last_run_timestamp_seconds', 'pydepot_scrub_corrupt_blobs_total',
    'pydepot_upstream_failures_total', 'pydepot_uploads_total', 'pydepot_cooldown_hidden_files', 'pydepot_confusion_squatted_projects',
  ]) t.true(used.has(n), `no panel uses ${n}`);
});

test('the dashboard is importable: one templated Prometheus datasource, unique panel ids, schemaVersion 39', async (t) => {
  const d = await dashboard();
  t.is(d.schemaVersion, 39);
  t.is(d.uid, 'pydepot');
  const ds = d.templating.list.find((v) => v.name === 'DS_PROMETHEUS');
  t.like(ds, { type: 'datasource', query: 'prometheus' });
  const panels = allPanels(d.panels);
  t.is(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
  for (const p of panels.filter((x) => x.type !== 'row')) {
    t.deepEqual(p.datasource, { type: 'prometheus', uid: '${DS_PROMETHEUS}' }, `panel '${p.title}'`);
    for (const target of p.targets ?? []) t.is(target.datasource?.uid, '${DS_PROMETHEUS}', `panel '${p.title}'`);
  }
});
