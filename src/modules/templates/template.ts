// Owns the template language of campaign bodies and of reply handlers' auto-replies: `{{first_name}}`,
// any contact attribute by name (`{{tier}}`, `{{order_id}}`), dotted paths into nested attributes
// (`{{address.city}}`) and fallbacks (`{{ first_name | there }}`). Pure, so the plan can check a
// template against every recipient and the expand job can render a million messages from one parse.
// A module of its own: campaigns and the reply router both render it, and replies may not import
// campaigns (campaigns read replies for their stats).
//
// A variable with no value and no fallback renders as nothing and is reported in `missing`, never as
// "undefined": the campaign API turns `missing` into a 400 that says how many recipients lack it.

export interface TemplateVariable {
  /** Attribute name or dotted path, as written (trimmed). */
  name: string;
  /** Text used when the recipient has no value; '' is a legitimate fallback (`{{title|}}`). */
  fallback?: string;
  /** The placeholder exactly as it appears in the body, braces included. */
  raw: string;
  /** Index of the opening `{{` in the body. */
  position: number;
}

export interface ParsedTemplate {
  variables: TemplateVariable[];
}

export interface RenderedTemplate {
  text: string;
  /** Names of variables that had neither a value nor a fallback, each once, in order of appearance. */
  missing: string[];
}

/** A template that cannot be parsed; `position` is the 0-based index of the offending characters. */
export class TemplateError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'TemplateError';
  }
}

// Segment names are identifiers (letters, digits, _ and -) so CSV headers like `order-id` work.
const NAME = /^[\p{L}_][\p{L}\p{N}_-]*(?:\.[\p{L}\p{N}_-]+)*$/u;

type Part = string | TemplateVariable;

function where(body: string, position: number): string {
  const before = body.slice(0, position);
  const line = before.split('\n').length;
  const column = position - before.lastIndexOf('\n');
  return `at position ${position} (line ${line}, column ${column})`;
}

function unquote(s: string): string {
  const m = /^(["'])(.*)\1$/s.exec(s);
  return m ? m[2] : s;
}

function tokenize(body: string): Part[] {
  const parts: Part[] = [];
  let i = 0;
  let textStart = 0;
  while (i < body.length) {
    if (body.startsWith('}}', i))
      throw new TemplateError(`Unbalanced '}}' ${where(body, i)}: no '{{' opens it`, i);
    if (!body.startsWith('{{', i)) {
      i++;
      continue;
    }
    const open = i;
    const close = body.indexOf('}}', open + 2);
    const nested = body.indexOf('{{', open + 2);
    if (close === -1) throw new TemplateError(`Unclosed '{{' ${where(body, open)}: add '}}'`, open);
    if (nested !== -1 && nested < close)
      throw new TemplateError(
        `'{{' ${where(body, nested)} inside the variable opened ${where(body, open)}`,
        nested,
      );
    if (open > textStart) parts.push(body.slice(textStart, open));
    const raw = body.slice(open, close + 2);
    const inner = body.slice(open + 2, close);
    const bar = inner.indexOf('|');
    const name = (bar === -1 ? inner : inner.slice(0, bar)).trim();
    if (!name) throw new TemplateError(`Empty variable '${raw}' ${where(body, open)}`, open);
    if (!NAME.test(name))
      throw new TemplateError(
        `Invalid variable name '${name}' ${where(body, open)}: use letters, digits, '_', '-' and '.' for paths`,
        open,
      );
    const variable: TemplateVariable = { name, raw, position: open };
    if (bar !== -1) variable.fallback = unquote(inner.slice(bar + 1).trim());
    parts.push(variable);
    i = close + 2;
    textStart = i;
  }
  if (textStart < body.length) parts.push(body.slice(textStart));
  return parts;
}

/** Every placeholder in order of appearance (identical placeholders once). Throws `TemplateError`. */
export function parseTemplate(body: string): ParsedTemplate {
  const seen = new Set<string>();
  const variables: TemplateVariable[] = [];
  for (const part of tokenize(body)) {
    if (typeof part === 'string' || seen.has(part.raw)) continue;
    seen.add(part.raw);
    variables.push(part);
  }
  return { variables };
}

/**
 * The recipient's value for a name: the flat key first (CSV attributes are often literally
 * "address.city"), then the dotted path, then a case-insensitive key ("First_Name" columns).
 */
function lookup(vars: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(vars, name)) return vars[name];
  if (name.includes('.')) {
    let cur: unknown = vars;
    for (const seg of name.split('.')) {
      if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) {
        cur = undefined;
        break;
      }
      cur = (cur as Record<string, unknown>)[seg];
    }
    if (cur !== undefined) return cur;
  }
  const lower = name.toLowerCase();
  for (const key of Object.keys(vars)) if (key.toLowerCase() === lower) return vars[key];
  return undefined;
}

/** Printable text for a value, or undefined when there is nothing worth printing. */
function display(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  if (Array.isArray(value)) {
    const items = value.map(display).filter((v): v is string => v !== undefined);
    return items.length ? items.join(', ') : undefined;
  }
  // A nested object has no sensible text form: "{{address}}" should have been "{{address.city}}".
  return undefined;
}

export type CompiledTemplate = (vars: Record<string, unknown>) => RenderedTemplate;

/** Parses once and returns a renderer: what the expand job uses for each recipient of a campaign. */
export function compileTemplate(body: string): CompiledTemplate {
  const parts = tokenize(body);
  return (vars) => {
    let text = '';
    const missing: string[] = [];
    for (const part of parts) {
      if (typeof part === 'string') {
        text += part;
        continue;
      }
      const value = display(lookup(vars ?? {}, part.name));
      if (value !== undefined) text += value;
      else if (part.fallback !== undefined) text += part.fallback;
      else if (!missing.includes(part.name)) missing.push(part.name);
    }
    return { text, missing };
  };
}

// Campaigns render one body many times; keep recent parses rather than re-tokenizing per recipient.
const compiled = new Map<string, CompiledTemplate>();
const CACHE_LIMIT = 64;

/** Renders a body for one recipient. Throws `TemplateError` on a malformed body. */
export function renderTemplate(body: string, vars: Record<string, unknown>): RenderedTemplate {
  let fn = compiled.get(body);
  if (!fn) {
    fn = compileTemplate(body);
    if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
    compiled.set(body, fn);
  }
  return fn(vars);
}
