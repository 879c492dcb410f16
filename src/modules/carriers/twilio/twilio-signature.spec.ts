import { describe, expect, it } from 'vitest';
import { twilioSignature, verifyTwilioSignature } from './twilio-signature';

const params = {
  CallSid: 'CA1234567890ABCDE',
  Caller: '+12349013030',
  Digits: '1234',
  From: '+12349013030',
  To: '+18005551212',
};
const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';

describe('twilioSignature', () => {
  it('matches Twilio’s published known answer', () => {
    expect(twilioSignature('12345', url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('does not depend on the order parameters were given in', () => {
    const reversed = Object.fromEntries(Object.entries(params).reverse());
    expect(twilioSignature('12345', url, reversed)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
  });

  it('verifies, and refuses a wrong token, URL, parameter or missing signature', () => {
    const sig = '0/KCTR6DLpKmkAf8muzZqo1nDgQ=';
    expect(verifyTwilioSignature('12345', url, params, sig)).toBe(true);
    expect(verifyTwilioSignature('54321', url, params, sig)).toBe(false);
    expect(verifyTwilioSignature('12345', url + '&x=1', params, sig)).toBe(false);
    expect(verifyTwilioSignature('12345', url, { ...params, Digits: '1235' }, sig)).toBe(false);
    expect(verifyTwilioSignature('12345', url, params, undefined)).toBe(false);
    expect(verifyTwilioSignature('12345', url, params, 'short')).toBe(false);
  });
});
