// Request validation with zod: one decorator validates a body (or query) and documents it in
// OpenAPI from the same schema, and errors name the field and the reason.
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { applyDecorators, ArgumentMetadata, Body, PipeTransform, Query } from '@nestjs/common';
import { ApiBody, ApiQuery } from '@nestjs/swagger';
import { z } from 'zod/v4';
import { ApiError } from './api-error';

export function issuesOf(err: z.ZodError): { path: string; message: string }[] {
  return err.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

export class ZodPipe<T extends z.ZodType> implements PipeTransform {
  constructor(private readonly schema: T) {}
  transform(value: unknown, _meta: ArgumentMetadata): z.infer<T> {
    const r = this.schema.safeParse(value ?? {});
    if (!r.success) throw ApiError.validation(issuesOf(r.error));
    return r.data;
  }
}

/** Parses with a schema or throws the API's 400 naming the field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  return new ZodPipe(schema).transform(value, { type: 'custom' });
}

export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/** Parameter decorator: the validated body. Pair with @ApiZodBody(schema) on the method. */
export const ZodBody = (schema: z.ZodType) => Body(new ZodPipe(schema));
export const ZodQuery = (schema: z.ZodType) => Query(new ZodPipe(schema));

export const ApiZodBody = (schema: z.ZodType, description?: string) =>
  applyDecorators(ApiBody({ schema: jsonSchemaOf(schema) as SchemaObject, description }));

export const ApiZodQuery = (schema: z.ZodObject) =>
  applyDecorators(
    ...Object.entries(schema.shape).map(([name, s]) =>
      ApiQuery({
        name,
        required: !(s as z.ZodType).safeParse(undefined).success,
        schema: jsonSchemaOf(s as z.ZodType) as SchemaObject,
      }),
    ),
  );
