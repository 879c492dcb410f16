// A workspace's status-callback signing secret. Lives with receipts (which signs callbacks) under
// the workspace's path.
import { Controller, Get, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { Idempotent } from '../../infra/http/idempotency';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace } from '../workspaces/workspace.repository';
import { WebhookSecret } from './webhook-secret.repository';
import { WebhookSecretService } from './webhook-secret.service';

const secretSchema = {
  type: 'object',
  properties: {
    secret: { type: 'string', description: 'Signs Parley-Signature v1 values (HMAC-SHA256 over "t.body").' },
    created_at: { type: 'string', format: 'date-time' },
    previous: {
      type: 'array',
      description: 'The rotated secret (at most one) that still signs callbacks until expires_at.',
      items: {
        type: 'object',
        properties: { created_at: { type: 'string' }, expires_at: { type: 'string' } },
      },
    },
  },
};

function view(secrets: WebhookSecret[]) {
  const [current, ...previous] = secrets;
  return {
    secret: current.secret,
    created_at: current.createdAt.toISOString(),
    previous: previous.map((p) => ({
      created_at: p.createdAt.toISOString(),
      expires_at: p.expiresAt?.toISOString() ?? null,
    })),
  };
}

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/workspace/webhook-secret')
export class WebhookSecretController {
  constructor(private readonly secrets: WebhookSecretService) {}

  @Get()
  @ApiOkResponse({ schema: secretSchema })
  async current(@CurrentWorkspace() ws: Workspace) {
    return view(await this.secrets.valid(ws.id));
  }

  /**
   * A new current secret; the old one keeps signing (as a second v1) for 24 hours. At most two are
   * live: a rotation within the grace period retires the secret before the old one at once.
   */
  @Post('rotate')
  @Idempotent()
  @ApiOkResponse({ schema: secretSchema })
  async rotate(@CurrentWorkspace() ws: Workspace) {
    return view(await this.secrets.rotate(ws.id));
  }
}
