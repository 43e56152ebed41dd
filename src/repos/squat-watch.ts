/**
 * Records upstream projects whose names are internal: someone registered
 * `acme-internal-utils` on pypi.org. The rule already keeps them out of
 * every merged page; this tells the operator, once per name, before a
 * client configured with pypi.org as an extra index could be tricked.
 */
import type { Logger } from '../log.ts';
import type { SquatStore } from '../storage/types.ts';
import type { SkipReason } from './confusion.ts';
import type { ProjectPage } from './types.ts';

export class SquatWatch {
  constructor(private readonly store: SquatStore, private readonly logger: Logger) {}

  /** `page`: what remote `remote` holds under a name that is internal for `reason`. */
  record(remote: string, page: ProjectPage, reason: SkipReason): void {
    if (page.files.length === 0 && page.versions.length === 0) return;
    const { newProject, newVersions } = this.store.recordSquat(remote, page.name, reason, page.versions, new Date().toISOString());
    if (newProject) {
      this.logger.warn(
        { remote, project: page.name, versions: page.versions, reason },
        `upstream '${remote}' holds a project whose name is internal; it is never merged (dependency-confusion rule): see \`pydepot confusion report\``,
      );
    } else if (newVersions.length > 0) {
      this.logger.info({ remote, project: page.name, versions: newVersions }, 'new upstream versions of an internal project name');
    }
  }
}
