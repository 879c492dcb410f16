// POST /v1/messages/preview: what a body would cost (encoding, segments, the characters that force
// UCS-2, what smart encoding would replace) and where a number would go, without sending anything.
import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { ApiError } from '../../infra/http/api-error';
import { ApiZodBody, ZodBody } from '../../infra/http/zod';
import { CurrentWorkspace } from '../workspaces/auth.guard';
import { Workspace } from '../workspaces/workspace.repository';
import { analyzeText, SmartReplacement, TextEncoding } from '../encoding';
import { MAX_BODY_CHARS } from './message.dto';
import { CarrierDirectory } from '../carriers/carrier-directory.service';
import { normalizePhone } from '../carriers/phone-number';

export const previewSchema = z.object({
  // No message can be longer (255 parts); refused before any analysis.
  body: z
    .string({ error: 'is required' })
    .min(1, 'must not be empty')
    .max(MAX_BODY_CHARS, `must be at most ${MAX_BODY_CHARS} characters (255 parts)`),
  to: z.string().max(64).optional(),
  /** ISO country reading a national `to` ("07400 123456" with GB). */
  country: z.string().length(2, 'must be an ISO 3166 alpha-2 code').optional(),
  /** A sender address or pool: checked like a send's, and its smart_encoding setting applies. */
  from: z.string().max(32).optional(),
  /** Overrides the sender's setting. */
  smart_encoding: z.boolean().optional(),
});

export interface PreviewJson {
  encoding: TextEncoding;
  segments: number;
  characters: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2): what the per-segment limits count. */
  units: number;
  non_gsm_characters: string[];
  parts: string[];
  smart_replacements?: SmartReplacement[];
  /** The text that would be sent, when smart encoding changed it. */
  text?: string;
  to?: { e164: string; country: string | null; line_type: string | null; carrier: string | null };
  from?: { address: string | null; pool: string | null; smart_encoding: boolean };
}

@ApiTags('messages')
@ApiBearerAuth()
@Controller('v1/messages')
export class PreviewController {
  constructor(private readonly directory: CarrierDirectory) {}

  @Post('preview')
  @HttpCode(200)
  @ApiOperation({ summary: 'Encoding, segments and route of a message, without sending it' })
  @ApiZodBody(previewSchema)
  @ApiOkResponse({
    description:
      '{ encoding, segments, characters, units, non_gsm_characters, parts, smart_replacements?, text?, to?: { e164, country, line_type, carrier }, from?: { address, pool, smart_encoding } }',
  })
  preview(
    @CurrentWorkspace() ws: Workspace,
    @ZodBody(previewSchema) req: z.infer<typeof previewSchema>,
  ): PreviewJson {
    // A pool smart-encodes only if every sender the workspace may use in it does, so the preview
    // never promises fewer segments than any member would send.
    const from = req.from !== undefined ? this.directory.sendersNamed(ws, req.from) : undefined;
    const senderSmart = from?.members.every((s) => s.smart_encoding) ?? false;
    const smartEncoding = req.smart_encoding ?? senderSmart;
    const a = analyzeText(req.body, { smartEncoding });
    const out: PreviewJson = {
      encoding: a.encoding,
      segments: a.segments,
      characters: a.characters,
      units: a.units,
      non_gsm_characters: a.nonGsmCharacters,
      parts: a.parts,
    };
    if (from) {
      out.from = {
        address: from.pool ? null : from.members[0].address,
        pool: from.pool ?? null,
        smart_encoding: senderSmart,
      };
    }
    if (smartEncoding) {
      out.smart_replacements = a.smartReplacements;
      if (a.text !== req.body) out.text = a.text;
    }
    if (req.to !== undefined) {
      const n = normalizePhone(req.to, req.country);
      if (!n.ok) throw ApiError.validation([{ path: 'to', message: `${n.reason}: ${n.detail}` }]);
      out.to = {
        e164: n.e164,
        country: n.country,
        line_type: n.lineType,
        carrier: this.directory.carrierOf(n.e164)?.id ?? null,
      };
    }
    return out;
  }
}
