// What the dispatcher needs to know about the campaigns of a batch: running, paused (hold their
// messages) or canceled (end them), their own cap and weight. Cached for a second: pause and cancel
// take effect within about a second of the API call.
import { Injectable } from '@nestjs/common';
import { CampaignRepository, CampaignStatus } from './campaign.repository';

export interface CampaignState {
  status: CampaignStatus;
  maxSegmentsPerSecond: number | null;
  weight: number;
}

const TTL_MS = 1_000;

@Injectable()
export class CampaignStates {
  private cache = new Map<string, { state: CampaignState | undefined; until: number }>();

  constructor(private readonly repo: CampaignRepository) {}

  async of(ids: string[]): Promise<Map<string, CampaignState>> {
    const now = Date.now();
    const out = new Map<string, CampaignState>();
    const stale: string[] = [];
    for (const id of new Set(ids)) {
      const hit = this.cache.get(id);
      if (hit && hit.until > now) {
        if (hit.state) out.set(id, hit.state);
      } else stale.push(id);
    }
    if (stale.length) {
      const fresh = await this.repo.states(stale);
      for (const id of stale) {
        const s = fresh.get(id);
        this.cache.set(id, { state: s, until: now + TTL_MS });
        if (s) out.set(id, s);
      }
    }
    if (this.cache.size > 10_000) this.cache.clear();
    return out;
  }
}
