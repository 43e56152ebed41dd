/**
 * The cooldown exemptions a running server applies. `pydepot cooldown
 * allow|revoke` writes them to the same database while the server runs, so
 * they are never cached for long: the store's change counter is read on each
 * use (one indexed row) and the list re-read when it moved. An exemption
 * stops applying at its end by the clock alone, without any write.
 */
import type { CooldownStore } from '../storage/types.ts';
import { compileExemption, type Exemption } from './cooldown.ts';

export class ExemptionList {
  private serial = -1;
  private exemptions: Exemption[] = [];

  constructor(private readonly store: CooldownStore) {}

  /** The exemptions in force at `now` for `project` served through any of `scopes`. */
  async covering(project: string, scopes: ReadonlySet<string>, now: number): Promise<Exemption[]> {
    await this.refresh();
    if (this.exemptions.length === 0) return [];
    return this.exemptions.filter((e) => e.until > now && (e.repo === null || scopes.has(e.repo)) && e.covers(project));
  }

  private async refresh(): Promise<void> {
    const serial = await this.store.serial();
    if (serial === this.serial) return;
    const rows = await this.store.list();
    // Concurrent refreshes: one that read a newer counter has set the list already.
    // (The list may be newer than `serial`: then the next use reads it again.)
    if (serial < this.serial) return;
    this.exemptions = rows.filter((r) => r.revokedAt === null).map(compileExemption);
    this.serial = serial;
  }
}
