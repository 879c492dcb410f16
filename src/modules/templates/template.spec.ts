import { describe, expect, it } from 'vitest';
import { compileTemplate, parseTemplate, renderTemplate, TemplateError } from './template';

describe('parseTemplate', () => {
  it('finds names, fallbacks and the raw placeholder', () => {
    const { variables } = parseTemplate(
      'Hi {{first_name}}, {{ first_name | there }}! Order {{order_id}} ({{tier|"standard"}}) ships to {{address.city}}.',
    );
    expect(variables).toEqual([
      { name: 'first_name', raw: '{{first_name}}', position: 3 },
      { name: 'first_name', fallback: 'there', raw: '{{ first_name | there }}', position: 19 },
      { name: 'order_id', raw: '{{order_id}}', position: 51 },
      { name: 'tier', fallback: 'standard', raw: '{{tier|"standard"}}', position: 65 },
      { name: 'address.city', raw: '{{address.city}}', position: 95 },
    ]);
  });

  it('lists a repeated placeholder once and keeps an empty fallback', () => {
    expect(parseTemplate('{{a}} {{a}} {{title|}}').variables).toEqual([
      { name: 'a', raw: '{{a}}', position: 0 },
      { name: 'title', fallback: '', raw: '{{title|}}', position: 12 },
    ]);
  });

  it('leaves single braces alone', () => {
    expect(parseTemplate('Use code {SAVE10} } {').variables).toEqual([]);
  });

  it.each([
    ['Hi {{first_name, your order', /Unclosed '\{\{' at position 3 \(line 1, column 4\)/, 3],
    ['Hi first_name}} there', /Unbalanced '\}\}' at position 13/, 13],
    ['Hi {{first {{name}} }}', /'\{\{' at position 11 .* inside the variable opened at position 3/, 11],
    ['Line one\n{{ }} two', /Empty variable '\{\{ \}\}' at position 9 \(line 2, column 1\)/, 9],
    ['Hi {{first name}}', /Invalid variable name 'first name' at position 3/, 3],
  ])('rejects %j with an error naming the position', (body, message, position) => {
    let error: unknown;
    try {
      parseTemplate(body);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TemplateError);
    expect((error as TemplateError).message).toMatch(message);
    expect((error as TemplateError).position).toBe(position);
  });
});

describe('renderTemplate', () => {
  const body = 'Hi {{first_name|there}}, your order {{order_id}} arrives {{eta}}. Tier: {{tier}}';

  it('renders attributes and uses a fallback only when the value is absent or blank', () => {
    expect(
      renderTemplate(body, { first_name: 'Ana', order_id: 'A-1042', eta: 'Friday', tier: 'gold' }),
    ).toEqual({
      text: 'Hi Ana, your order A-1042 arrives Friday. Tier: gold',
      missing: [],
    });
    expect(renderTemplate(body, { first_name: '  ', order_id: 7, eta: 'today', tier: 'silver' }).text).toBe(
      'Hi there, your order 7 arrives today. Tier: silver',
    );
  });

  it('reports a missing variable without a fallback instead of printing undefined', () => {
    const r = renderTemplate(body, { order_id: 'A-1', tier: null });
    expect(r.text).toBe('Hi there, your order A-1 arrives . Tier: ');
    expect(r.text).not.toContain('undefined');
    expect(r.missing).toEqual(['eta', 'tier']);
  });

  it('reads nested paths, flat dotted keys and case-insensitive attribute names', () => {
    expect(renderTemplate('{{address.city}}', { address: { city: 'Lyon' } }).text).toBe('Lyon');
    expect(renderTemplate('{{address.city}}', { 'address.city': 'Porto' }).text).toBe('Porto');
    expect(renderTemplate('{{first_name}}', { First_Name: 'Zoë' }).text).toBe('Zoë');
    expect(renderTemplate('{{address.zip|n/a}}', { address: { city: 'Lyon' } }).text).toBe('n/a');
    // An object is not text: the author meant a field of it.
    expect(renderTemplate('{{address}}', { address: { city: 'Lyon' } }).missing).toEqual(['address']);
  });

  it('prints numbers, booleans, dates and lists plainly', () => {
    const r = renderTemplate('{{n}} {{b}} {{d}} {{l}}', {
      n: 0,
      b: false,
      d: new Date('2026-03-08T07:00:00Z'),
      l: ['a', 'b'],
    });
    expect(r).toEqual({ text: '0 false 2026-03-08T07:00:00.000Z a, b', missing: [] });
  });

  it('throws the parse error for a malformed body', () => {
    expect(() => renderTemplate('Hi {{first_name', {})).toThrow(TemplateError);
  });

  it('compiles once for many recipients', () => {
    const render = compileTemplate('Hi {{first_name|there}}');
    expect([{ first_name: 'Li' }, {}].map((v) => render(v).text)).toEqual(['Hi Li', 'Hi there']);
  });
});
