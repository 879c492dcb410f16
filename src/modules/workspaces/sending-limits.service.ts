// The sending limits of a workspace (allowed destination countries, daily segment budget): its
// settings, else the deployment's defaults (PARLEY_DEFAULT_ALLOWED_COUNTRIES,
// PARLEY_DAILY_SEGMENT_BUDGET). Read by the messages API and campaigns on every send or plan.
import { Injectable } from '@nestjs/common';
import { ConfigService } from '../../config/config.service';
import { WorkspaceRepository } from './workspace.repository';
import { SendingLimits, WorkspaceSettings, sendingLimits } from './workspace-settings';

@Injectable()
export class SendingLimitsService {
  readonly defaults: SendingLimits;

  constructor(
    private readonly repo: WorkspaceRepository,
    config: ConfigService,
  ) {
    this.defaults = {
      allowed_countries: config.env.PARLEY_DEFAULT_ALLOWED_COUNTRIES.split(',')
        .map((c) => c.trim().toUpperCase())
        .filter((c) => c !== ''),
      daily_segment_budget: config.env.PARLEY_DAILY_SEGMENT_BUDGET ?? null,
    };
  }

  async of(workspaceId: string): Promise<SendingLimits> {
    return this.resolve((await this.repo.settings(workspaceId)) as WorkspaceSettings);
  }

  resolve(settings: WorkspaceSettings): SendingLimits {
    return sendingLimits(settings, this.defaults);
  }
}
