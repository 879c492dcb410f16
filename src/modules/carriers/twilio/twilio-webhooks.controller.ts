// The Twilio-style connector's webhooks: inbound messages and status callbacks. Each request must
// carry a valid X-Twilio-Signature (twilio-signature.ts) over the public URL it was sent to and its
// sorted POST parameters; a bad or missing one is 403 and nothing is recorded. Valid requests go to
// Kafka exactly as SMPP traffic does (carrier-traffic.ts).
import { Controller, Header, HttpCode, HttpStatus, Param, Post, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ConfigService } from '../../../config/config.service';
import { ApiError } from '../../../infra/http/api-error';
import { KafkaService } from '../../../infra/kafka/kafka.service';
import { Public } from '../../workspaces/auth.guard';
import { CarrierDirectory } from '../carrier-directory.service';
import { publishInbound, publishReceipt } from '../carrier-traffic';
import type { RawInbound, RawReceipt } from '../connector';
import { verifyTwilioSignature } from './twilio-signature';
import { TwilioConnectorConfig, twilioAuthToken } from './twilio.connector';

/** Form parameters as Twilio signs them: one string per name (a repeated name keeps its first). */
function formParams(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!body || typeof body !== 'object') return out;
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = String(v[0] ?? '');
    else if (v !== undefined && v !== null) out[k] = String(v);
  }
  return out;
}

@ApiExcludeController()
@Controller('v1/webhooks')
export class TwilioWebhooksController {
  constructor(
    private readonly config: ConfigService,
    private readonly kafka: KafkaService,
    private readonly directory: CarrierDirectory,
  ) {}

  @Public()
  @Post(':connector/status')
  @HttpCode(HttpStatus.NO_CONTENT)
  async status(@Param('connector') connectorId: string, @Req() req: FastifyRequest): Promise<void> {
    const params = this.verified(connectorId, req);
    const sid = params.MessageSid || params.SmsSid;
    const state = params.MessageStatus || params.SmsStatus;
    if (!sid || !state) throw ApiError.badRequest('MessageSid and MessageStatus are required');
    const receipt: RawReceipt = {
      connectorId,
      carrierMessageId: sid,
      recipient: params.To || undefined,
      sender: params.From || undefined,
      // Sorted so the same callback always reads the same (the parked-receipt key depends on it).
      raw: new URLSearchParams(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : 1))).toString(),
      messageState: state,
      receivedAt: Date.now(),
      // The callback URL we gave the provider names our message (twilio.connector.ts): it ties the
      // receipt to its message even when the sid was never stored.
      ...(typeof (req.query as Record<string, unknown>)?.message_id === 'string'
        ? { parleyMessageId: (req.query as Record<string, string>).message_id.slice(0, 64) }
        : {}),
    };
    await publishReceipt(this.kafka, receipt);
  }

  @Public()
  @Post(':connector/inbound')
  @HttpCode(HttpStatus.OK)
  @Header('content-type', 'text/xml; charset=utf-8')
  async inbound(@Param('connector') connectorId: string, @Req() req: FastifyRequest): Promise<string> {
    const params = this.verified(connectorId, req);
    if (!params.From || !params.To) throw ApiError.badRequest('From and To are required');
    const mo: RawInbound = {
      connectorId,
      from: params.From,
      to: params.To,
      body: params.Body ?? '',
      carrierMessageId: params.MessageSid || params.SmsSid || undefined,
      receivedAt: Date.now(),
    };
    // A provider retrying its webhook (our answer lost or late) names the same MessageSid, and so
    // gets the same inbound id.
    await publishInbound(this.kafka, mo);
    // An empty TwiML answer: replies are Parley's decision, sent through the API path.
    return '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';
  }

  /** The request's parameters when its signature is valid; 403 otherwise (404 for no such connector). */
  private verified(connectorId: string, req: FastifyRequest): Record<string, string> {
    const cfg = this.connector(connectorId);
    const params = formParams(req.body);
    const header = req.headers['x-twilio-signature'];
    const signature = Array.isArray(header) ? header[0] : header;
    // Providers sign the URL they were given, which is the public one, not our listener's address.
    const url = `${this.config.env.PARLEY_PUBLIC_URL}${req.url}`;
    const token = twilioAuthToken(cfg, process.env, this.config.twilioAuthToken);
    if (!token) {
      // No token configured: a signature could only be checked against one printed in the docs.
      throw new ApiError(
        HttpStatus.FORBIDDEN,
        'webhooks_disabled',
        `no auth token for connector ${cfg.id}: set ${cfg.auth_token_env || 'TWILIO_AUTH_TOKEN'}; provider webhooks are refused until then`,
      );
    }
    if (!verifyTwilioSignature(token, url, params, signature)) {
      throw new ApiError(HttpStatus.FORBIDDEN, 'forbidden', 'missing or invalid X-Twilio-Signature');
    }
    return params;
  }

  private connector(id: string): TwilioConnectorConfig {
    const c = this.directory.connectors().find((x) => x.id === id);
    if (!c || c.kind !== 'twilio') throw ApiError.notFound('webhook connector', id);
    return c;
  }
}
