import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { Idempotent } from '../../infra/http/idempotency';
import { ApiZodBody, ApiZodQuery, ZodBody, ZodQuery } from '../../infra/http/zod';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace } from '../workspaces/workspace.repository';
import { CreateCampaignInput, createCampaignSchema, listQuery } from './campaign.dto';
import { CampaignService } from './campaign.service';

@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('v1/campaigns')
export class CampaignsController {
  constructor(private readonly campaigns: CampaignService) {}

  /** Creates a draft and answers with its launch plan, computed from the recipients. */
  @Post()
  @HttpCode(201)
  @Idempotent()
  @ApiZodBody(createCampaignSchema)
  create(@CurrentWorkspace() ws: Workspace, @ZodBody(createCampaignSchema) body: CreateCampaignInput) {
    return this.campaigns.create(ws, body);
  }

  @Get()
  @ApiZodQuery(listQuery)
  list(@CurrentWorkspace() ws: Workspace, @ZodQuery(listQuery) q: z.infer<typeof listQuery>) {
    return this.campaigns.list(ws, q);
  }

  @Get(':id')
  get(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.campaigns.get(ws, id);
  }

  @Post(':id/launch')
  @HttpCode(200)
  launch(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.campaigns.launch(ws, id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  pause(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.campaigns.pause(ws, id);
  }

  @Post(':id/resume')
  @HttpCode(200)
  resume(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.campaigns.resume(ws, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@CurrentWorkspace() ws: Workspace, @Param('id') id: string) {
    return this.campaigns.cancel(ws, id);
  }
}
