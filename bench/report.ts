/** The results table: one row per scenario, pydepot beside its baseline. */
import type { PageProject } from './page-project.ts';

export interface Row {
  scenario: string;
  pydepot: number;
  baseline: number;
  ratio: number | null;
  target: string;
  pass: boolean | null;
}

export type AddRow = (scenario: string, pydepot: number, baseline: number, target: string, pass: boolean | null, withRatio?: boolean) => void;

/** What run.ts hands each scenario group. */
export interface ScenarioContext {
  work: string;
  row: AddRow;
  details: Record<string, unknown>;
  pageProject: () => Promise<PageProject>;
  pageFiles: number;
}

export function rowAdder(rows: Row[]): AddRow {
  return (scenario, pydepot, baseline, target, pass, withRatio = true) => {
    rows.push({ scenario, pydepot, baseline, ratio: withRatio ? pydepot / baseline : null, target, pass });
  };
}

export function printTable(rows: Row[]): void {
  const cells = rows.map((r) => [
    r.scenario,
    r.pydepot.toFixed(1),
    r.baseline.toFixed(1),
    r.ratio === null ? '-' : r.ratio.toFixed(2),
    r.target,
    r.pass === null ? '-' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const header = ['scenario', 'pydepot', 'baseline', 'ratio', 'target', 'result'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 || i === 4 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join(' | ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
  for (const c of cells) console.log(line(c));
}
