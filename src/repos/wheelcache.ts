/**
 * A wheel cache: wheels that users built for releases an upstream (a remote
 * repository, `augments`) publishes without a wheel for their platform. It
 * only adds files to the upstream's releases: never claims a name, never
 * replaces an upstream file, never outlives an upstream yank or removal.
 *
 * Its files are kept by a LocalRepository under the cache's own name (the
 * same blob-then-rows commit, immutability and audit as any upload); this
 * class puts its own rules in front of that, and the upstream's state over
 * what it serves (wheelcache-rules.ts). It asks the upstream only through
 * the Repository interface, so a page is revalidated by the remote's own
 * freshness rules.
 */
import { buffer } from 'node:stream/consumers';
import { LRUCache } from 'lru-cache';
import type { WheelCacheRepoConfig } from '../config/schema.ts';
import { FileExists, InvalidDistribution, NotFound, UpstreamUnavailable, UpstreamUncheckable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { WheelCacheMetrics } from '../metrics.ts';
import { parseCoreMetadata, type CoreMetadata } from '../pypi/core-metadata.ts';
import type { DistFilename } from '../pypi/filenames.ts';
import type { IndexFile, ProjectPage, ProjectSummary } from '../pypi/pages.ts';
import { canonicalVersion } from '../pypi/versions.ts';
import type { Actor, AuditStore, BlobStore, MetadataStore } from '../storage/types.ts';
import type { ValidatedUpload } from '../upload/pipeline.ts';
import { LocalRepository } from './local.ts';
import type { AugmentingRepository, FileHandle, UploadResult, UploadTarget, UpstreamRepository } from './types.ts';
import { cacheFilesOn, dependencyDifference, nonPortablePlatforms, upstreamReleases, upstreamWheelFor, versionOf, type UpstreamRelease } from './wheelcache-rules.ts';

/** Distinct upstream core metadata files compared with an upload's before it is refused. */
const MAX_METADATA_COMPARED = 4;

/** Why an upload was refused, as pydepot_wheelcache_uploads_total counts it. */
type Rule = 'sdist' | 'non-portable' | 'internal' | 'no-release' | 'quarantined' | 'filename-taken' | 'platform-served' | 'dependencies' | 'cannot-check';

export interface WheelCacheDeps {
  blobs: BlobStore;
  store: MetadataStore;
  audit: AuditStore;
  logger: Logger;
  metrics: WheelCacheMetrics;
  /**
   * Why a project name is internal (a local repository hosts it, a virtual
   * repository's `internal` patterns match it), or null: asked at each upload,
   * so a name that became internal since is refused at once.
   */
  internalReason(project: string): Promise<string | null>;
}

export class WheelCacheRepository implements AugmentingRepository, UploadTarget {
  readonly kind = 'wheelcache' as const;
  readonly indexMaxAge: number;
  readonly maxFileSize: number;
  /** The remote repository whose releases this cache adds wheels to. */
  readonly augments: string;
  /** The cache's own files, kept as a local repository keeps them (admin commands yank and delete through it). */
  readonly hosted: LocalRepository;
  private readonly hidden = new LRUCache<string, ReadonlyMap<string, string>>({ max: 1000 });

  constructor(
    readonly name: string,
    private readonly config: WheelCacheRepoConfig,
    private readonly remote: UpstreamRepository,
    private readonly deps: WheelCacheDeps,
  ) {
    this.indexMaxAge = config.indexMaxAge;
    this.maxFileSize = config.maxFileSize;
    this.augments = remote.name;
    this.hosted = new LocalRepository(name, {
      type: 'local', read: config.read, upload: config.upload, overwrite: false, maxFileSize: config.maxFileSize, indexMaxAge: config.indexMaxAge,
    }, deps.blobs, deps.store, deps.audit);
  }

  // --- what a virtual repository merges --------------------------------------

  /** Changes whenever the cache's own files of `project` do; null when it has none. */
  ownVersion(project: string): Promise<string | null> {
    return this.hosted.projectVersion(project);
  }

  /** The cache's own files of `project`, before the upstream's state is applied. */
  ownPage(project: string): Promise<ProjectPage | null> {
    return this.hosted.projectPage(project);
  }

  // --- Repository: the cache's own index, with the upstream's state applied ----

  async hostsProject(): Promise<boolean> {
    // A cache wheel never makes a name internal: it completes an upstream project.
    return false;
  }

  fileProject(sha256: string, filename: string): Promise<string | null> {
    return this.hosted.fileProject(sha256, filename);
  }

  async projectVersion(project: string): Promise<string | null> {
    const own = await this.ownVersion(project);
    if (own === null) return null;
    // The upstream's state decides what is shown, so its changes change the page.
    return `${own}/${(await this.remote.projectVersion(project)) ?? '-'}`;
  }

  async projectPage(project: string): Promise<ProjectPage | null> {
    const own = await this.ownPage(project);
    if (!own) return null;
    // Judged against everything the upstream has: the remote's files filter is
    // a view of it, and must not let a cache wheel stand in for a filtered one.
    const upstream = await this.remote.upstreamPage(project);
    if (!upstream) return null;
    const { shown } = cacheFilesOn(upstream, own.files, { cache: this.name, remote: this.augments });
    if (shown.length === 0) return null;
    // PEP 700 versions in the spelling uploaded, of the releases still shown.
    const kept = new Set(shown.map((f) => versionOf(f.filename)));
    return { ...own, files: shown, versions: own.versions.filter((v) => kept.has(canonicalVersion(v))) };
  }

  listVersion(): Promise<string> {
    return this.hosted.listVersion();
  }

  listProjects(): AsyncIterable<ProjectSummary[]> {
    return this.hosted.listProjects();
  }

  async openFile(sha256: string, filename: string): Promise<FileHandle | null> {
    if (!(await this.visible(sha256, filename))) return null;
    const handle = await this.hosted.openFile(sha256, filename);
    if (handle) this.deps.metrics.hits.inc({ repo: this.name });
    return handle;
  }

  async openCoreMetadata(sha256: string, filename: string): Promise<FileHandle | null> {
    if (!(await this.visible(sha256, filename))) return null;
    return this.hosted.openCoreMetadata(sha256, filename);
  }

  /**
   * A file is served only while the upstream's page shows it: hidden ones
   * answer 404 saying why. false: the cache has no such file.
   */
  private async visible(sha256: string, filename: string): Promise<boolean> {
    const project = await this.hosted.fileProject(sha256, filename);
    if (project === null) return false;
    const reason = (await this.hiddenOf(project)).get(filename);
    if (reason !== undefined) throw new NotFound(`'${filename}' is hidden: ${reason}.`);
    return true;
  }

  /**
   * The cache's files of `project` that the upstream's state hides, and why.
   * Worked out once per change of either side (both tokens are cheap), not
   * once per download: a herd of nodes fetching one wheel does not parse the
   * upstream's page each time.
   */
  private async hiddenOf(project: string): Promise<ReadonlyMap<string, string>> {
    const [own, upstreamToken] = await Promise.all([this.ownVersion(project), this.remote.projectVersion(project)]);
    const key = `${project}\u0000${own}\u0000${upstreamToken}`;
    const known = this.hidden.get(key);
    if (known) return known;
    const files = (await this.ownPage(project))?.files ?? [];
    const upstream = upstreamToken === null ? null : await this.remote.upstreamPage(project);
    const hidden = upstream
      ? cacheFilesOn(upstream, files, { cache: this.name, remote: this.augments }).hidden
      : new Map(files.map((f) => [f.filename, `upstream '${this.augments}' no longer has project '${project}'`]));
    this.hidden.set(key, hidden);
    return hidden;
  }

  // --- uploads -------------------------------------------------------------

  /**
   * Checks an upload against the cache's rules, then stores it as a local
   * repository would. Consumes its temp blob, whatever happens: a refused
   * upload leaves nothing behind.
   */
  async add(v: ValidatedUpload, actor: Actor): Promise<UploadResult> {
    let handedOver = false;
    try {
      const same = await this.check(v);
      if (same) {
        await this.deps.audit.record({
          at: new Date().toISOString(), actor: actor.user ?? 'anonymous', tokenId: actor.tokenId, address: actor.address,
          action: 'upload', repo: this.name, project: v.dist.normalizedName, version: v.dist.version, filename: v.dist.filename,
          sha256: v.temp.sha256, detail: `unchanged: identical to the file of upstream '${this.augments}', not stored`,
        });
        this.count('unchanged');
        return { outcome: 'unchanged', file: same, note: `Upstream '${this.augments}' has this very file; nothing stored.` };
      }
      handedOver = true;
      const result = await this.hosted.add(v, actor);
      this.count(result.outcome);
      return result;
    } catch (err) {
      // The cache's own immutability: this filename holds other bytes already.
      if (err instanceof FileExists) this.count('filename-taken');
      throw err;
    } finally {
      if (!handedOver) await this.deps.blobs.discard(v.temp);
    }
  }

  /**
   * The cache's rules, cheapest first, and none that asks the upstream before
   * the name is known not to be internal (asking would tell it the name).
   * Returns the upstream's file when the upload is that very file.
   */
  private async check(v: ValidatedUpload): Promise<IndexFile | null> {
    const { dist } = v;
    const f = dist.filename;
    if (dist.kind !== 'wheel') {
      throw this.refuse('sdist', `'${f}' is an sdist; repository '${this.name}' takes wheels only (the sdists of '${dist.name}' are the upstream '${this.augments}''s).`);
    }
    this.checkPortable(dist);
    const internal = await this.deps.internalReason(dist.normalizedName);
    if (internal !== null) {
      throw this.refuse('internal', `'${dist.normalizedName}' is an internal name (${internal}); repository '${this.name}' only adds wheels to upstream projects.`);
    }
    const page = await this.upstreamPage(f, dist.normalizedName);
    const release = this.upstreamRelease(dist, page);
    const same = release.files.find((u) => u.filename === f);
    if (same) {
      if (same.sha256 === v.temp.sha256) return same;
      throw this.refuse('filename-taken',
        `Upstream '${this.augments}' already has '${f}' with other bytes (sha256 ${same.sha256}); a wheel cache never replaces an upstream file: install the upstream's.`);
    }
    const theirs = upstreamWheelFor(f, release.files);
    if (theirs !== null) {
      throw this.refuse('platform-served',
        `Upstream '${this.augments}' already has '${theirs}', which installs wherever '${f}' would; a wheel cache only adds wheels for platforms the upstream lacks (pip would prefer yours to the upstream's).`);
    }
    await this.checkDependencies(v, release);
    return null;
  }

  private checkPortable(dist: Extract<DistFilename, { kind: 'wheel' }>): void {
    const bad = nonPortablePlatforms(dist.platformTags);
    if (bad.length === 0 || this.config.allowNonPortable) return;
    throw this.refuse('non-portable',
      `'${dist.filename}' has the non-portable platform tag '${bad.join("', '")}', which pip ranks above every manylinux wheel on every node it installs on; repair it with auditwheel (auditwheel repair), or set allowNonPortable: true on repository '${this.name}' to accept such wheels deliberately.`);
  }

  /** The upstream's current page (revalidated by the remote's TTL); a refusal when it cannot be had. */
  private async upstreamPage(filename: string, project: string): Promise<ProjectPage> {
    let page: ProjectPage | null;
    try {
      page = (await this.remote.projectVersion(project)) === null ? null : await this.remote.upstreamPage(project);
    } catch (err) {
      // An offline remote without the page answers NotFound: it cannot say either.
      if (!(err instanceof UpstreamUnavailable) && !(err instanceof NotFound)) throw err;
      this.count('cannot-check');
      throw new UpstreamUncheckable(`Cannot check '${filename}' against upstream '${this.augments}' (${err.message.replace(/\.$/, '')}); nothing was stored, try again later.`);
    }
    if (!page) throw this.refuse('no-release', `Upstream '${this.augments}' has no project '${project}'; repository '${this.name}' only adds wheels to releases the upstream publishes.`);
    if (page.status?.status === 'quarantined') {
      throw this.refuse('quarantined', `Upstream '${this.augments}' has quarantined project '${project}' (PEP 792); repository '${this.name}' adds no wheels to it.`);
    }
    return page;
  }

  private upstreamRelease(dist: DistFilename, page: ProjectPage): UpstreamRelease {
    const release = upstreamReleases(page).get(canonicalVersion(dist.version) ?? dist.version);
    if (release) return release;
    const latest = page.versions.slice(-5).join(', ');
    throw this.refuse('no-release',
      `Upstream '${this.augments}' has no release ${dist.normalizedName} ${dist.version}${latest ? ` (its latest: ${latest})` : ''}; repository '${this.name}' only adds wheels to releases the upstream publishes.`);
  }

  /**
   * Where the upstream serves core metadata (PEP 658) for files of the
   * release, the wheel must declare the same Requires-Dist and
   * Requires-Python as one of them: a cache wheel adds a platform, never a
   * dependency. Identical metadata files (the same hash) are read once.
   */
  private async checkDependencies(v: ValidatedUpload, release: UpstreamRelease): Promise<void> {
    const seen = new Set<string>();
    const candidates = [...release.files]
      .sort((a, b) => Number(b.filename.endsWith('.whl')) - Number(a.filename.endsWith('.whl')))
      .filter((u) => u.metadataSha256 !== null && !seen.has(u.metadataSha256) && seen.add(u.metadataSha256))
      .slice(0, MAX_METADATA_COMPARED);
    let first: { filename: string; difference: string } | null = null;
    for (const u of candidates) {
      const theirs = await this.upstreamMetadata(v.dist.filename, u);
      if (theirs === null) continue;
      const difference = dependencyDifference(theirs, v.metadata);
      if (difference === null) return;
      first ??= { filename: u.filename, difference };
    }
    if (first) {
      throw this.refuse('dependencies',
        `'${v.dist.filename}' declares other dependencies than the upstream's '${first.filename}': ${first.difference}; a cache wheel must not change what a release depends on (build it from the release's own sdist).`);
    }
  }

  private async upstreamMetadata(filename: string, u: IndexFile): Promise<CoreMetadata | null> {
    let bytes: Buffer;
    try {
      const handle = await this.remote.openUpstreamMetadata(u.sha256, u.filename);
      if (!handle) return null;
      bytes = await buffer(handle.open());
    } catch (err) {
      if (!(err instanceof UpstreamUnavailable)) throw err;
      this.count('cannot-check');
      throw new UpstreamUncheckable(`Cannot check '${filename}' against upstream '${this.augments}': the core metadata of '${u.filename}' cannot be fetched (${err.message.replace(/\.$/, '')}); nothing was stored, try again later.`);
    }
    try {
      return parseCoreMetadata(bytes.toString('utf8'));
    } catch (err) {
      if (!(err instanceof InvalidDistribution)) throw err;
      this.deps.logger.warn({ repo: this.name, remote: this.augments, file: u.filename, reason: err.message }, 'upstream core metadata unreadable; not compared');
      return null;
    }
  }

  private refuse(rule: Rule, message: string): InvalidDistribution {
    this.count(rule);
    return new InvalidDistribution(message);
  }

  private count(outcome: Rule | UploadResult['outcome']): void {
    this.deps.metrics.uploads.inc({ repo: this.name, outcome });
  }
}

