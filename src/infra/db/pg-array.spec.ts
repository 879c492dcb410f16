import { describe, expect, it } from 'vitest';
import { intArray, textArray } from './pg-array';

describe('postgres array literals', () => {
  it('quotes every element and escapes only quote and backslash', () => {
    expect(textArray(['a', null, '', 'NULL', 'x,y', '{b}', 'say "hi"', 'c:\\d', ' sp '])).toBe(
      '{"a",NULL,"","NULL","x,y","{b}","say \\"hi\\"","c:\\\\d"," sp "}',
    );
    expect(textArray([])).toBe('{}');
  });

  it('writes integers and refuses anything else', () => {
    expect(intArray([1, 22, -3])).toBe('{1,22,-3}');
    expect(() => intArray([1.5])).toThrow();
  });
});
