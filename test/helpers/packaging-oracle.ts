/**
 * Asks Python's packaging (and pip's vendored copy, and pip's requirements
 * file parser) the same questions the TypeScript code answers, in one
 * python3 process per call: JSON in a temp file, JSON out on stdout.
 *
 * Isolated so that nothing on this machine changes the answers: `python3 -I`
 * (no PYTHON* variables, no user site, no cwd on sys.path), PYTHONNOUSERSITE=1,
 * PIP_CONFIG_FILE=/dev/null, and no inherited PIP_* variable (`run` builds
 * the environment from scratch).
 *
 * There is no skipping: a missing python3, pip or packaging throws, and the
 * test fails with the reason. These tests are the proof that pydepot reads
 * markers and requirements as pip does.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MarkerEnvironment } from '../../src/resolve/markers.ts';
import { describe, run } from './clients.ts';

const SCRIPT = fileURLToPath(new URL('./packaging_oracle.py', import.meta.url));

/** What one packaging says of a marker; results per environment name. */
export type MarkerAnswer =
  | { parsed: false; error: string }
  | { parsed: true; str: string; results: Record<string, boolean | string> };

export type RequirementAnswer =
  | { parsed: false; error: string }
  | { parsed: true; name: string; extras: string[]; specifier: string; url: string | null; marker: string | null };

export type SpecifierAnswer =
  | { valid: false; error: string }
  | { valid: true; str: string; contains: boolean | string; containsPre: boolean | string; containsNoPre: boolean | string };

export interface ImplementationAnswers {
  markers: MarkerAnswer[];
  requirements: RequirementAnswer[];
  specifiers: SpecifierAnswer[];
  filters: Array<string[] | string>;
}

export interface PipFileRequirement {
  requirement: string;
  constraint: boolean;
  editable: boolean;
  lineSource: string | null;
  hashes: string[];
  name?: string;
  extras?: string[];
  specifier?: string;
  marker?: string | null;
  error?: string;
}

export interface OracleAnswer {
  versions: { python: string; packaging: string; pip: string; pipPackaging: string };
  defaultEnvironment: MarkerEnvironment;
  /** The standalone packaging: pydepot's reference. */
  modern: ImplementationAnswers;
  /** pip's vendored packaging (21.3 in pip 23). */
  pip: ImplementationAnswers;
  requirementsFile?: { requirements: PipFileRequirement[] } | { error: string };
}

export interface OracleRequest {
  markers?: Array<{ marker: string; extras?: string[] }>;
  envs?: Record<string, MarkerEnvironment>;
  /** Also evaluate markers in this machine's environment, named "local" (it is `defaultEnvironment`). */
  withLocalEnvironment?: boolean;
  requirements?: string[];
  specifiers?: Array<{ set: string; version: string }>;
  filters?: Array<{ set: string; versions: string[]; prereleases?: boolean | null }>;
  /** Path of a requirements file for pip's parse_requirements. */
  requirementsFile?: string;
}

/** The packaging major version the expectations were written against. */
const MODERN_MAJOR = 26;

/**
 * `python` defaults to python3 (pyenv's 3.11, pip 23.2, packaging 26.2 on
 * this machine kind). With `anyPackaging`, the standalone packaging may be of
 * any version: for questions only pip answers (Debian's /usr/bin/python3 has
 * pip 23.0 and packaging 23.0).
 */
export async function askPackaging(request: OracleRequest, python = 'python3', anyPackaging = false): Promise<OracleAnswer> {
  const dir = await mkdtemp(join(tmpdir(), 'pydepot-oracle-'));
  try {
    const input = join(dir, 'request.json');
    await writeFile(input, JSON.stringify(request));
    const result = await run(python, ['-I', SCRIPT, input], { env: { PYTHONNOUSERSITE: '1' }, timeoutMs: 60_000 });
    if (result.code === 127) {
      throw new Error(`${python} cannot be started (${result.stderr.trim()}): install python3 with pip (apt-get install -y python3 python3-pip) — these tests compare against it and never skip`);
    }
    if (result.code !== 0) {
      throw new Error(`the packaging oracle failed (needs pip and packaging >= ${MODERN_MAJOR} for ${python}: pip install 'packaging>=${MODERN_MAJOR}'): ${describe(result)}`);
    }
    const answer = JSON.parse(result.stdout) as OracleAnswer;
    const major = Number(answer.versions.packaging.split('.')[0]);
    if (major !== MODERN_MAJOR && !anyPackaging) {
      throw new Error(`${python} has packaging ${answer.versions.packaging}; the expectations are written for packaging ${MODERN_MAJOR}.x (pip install 'packaging==${MODERN_MAJOR}.*')`);
    }
    return answer;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
