// How a receipt's carrier id is compared with the id a submit answer gave, per connector: the one
// form the connector's configuration declares (Kannel's `msg-id-type`), never guessed per receipt.
// Guessing (trying every id as decimal and as hex) let the receipt for `1060` match the part whose
// id is `424` (0x424), so on an SMSC numbering in decimal about one receipt in a hundred landed on a
// stranger's message. Only zero padding and letter case are normalised. Pure.

export const RECEIPT_ID_FORMATS = ['as_is', 'resp_hex_receipt_dec', 'resp_dec_receipt_hex'] as const;
export type ReceiptIdFormat = (typeof RECEIPT_ID_FORMATS)[number];

/** Ids longer than this are compared as text: no SMSC issues numbers of 64 digits. */
const MAX_NUMERIC_LENGTH = 64;

/** Letter case and zero padding normalised: `0000ABC` and `abc` are the same id. */
function plain(id: string): string {
  const t = id.trim().toLowerCase();
  const stripped = t.replace(/^0+/, '');
  return stripped === '' && t !== '' ? '0' : stripped;
}

function decimalOfHex(id: string): string | undefined {
  const t = id.trim();
  if (!t || t.length > MAX_NUMERIC_LENGTH || !/^[0-9a-f]+$/i.test(t)) return undefined;
  return BigInt('0x' + t).toString(10);
}

function decimal(id: string): string | undefined {
  const t = id.trim();
  if (!t || t.length > MAX_NUMERIC_LENGTH || !/^\d+$/.test(t)) return undefined;
  return BigInt(t).toString(10);
}

/**
 * The key a part is stored under, from the id of its submit answer (submit_sm_resp, the
 * provider's MessageSid). An id that does not read in the declared form keeps a key no receipt
 * can produce in that form (`!` cannot appear in a number), so it matches nothing rather than
 * something else.
 */
export function storedReceiptKey(format: ReceiptIdFormat, respId: string): string {
  switch (format) {
    case 'as_is':
      return plain(respId);
    case 'resp_hex_receipt_dec':
      return decimalOfHex(respId) ?? `!${plain(respId)}`;
    case 'resp_dec_receipt_hex':
      return decimal(respId) ?? `!${plain(respId)}`;
  }
}

/** The key a receipt's id is looked up by, or undefined when it cannot be read in the declared form. */
export function receiptLookupKey(format: ReceiptIdFormat, receiptId: string | undefined): string | undefined {
  if (receiptId === undefined || !receiptId.trim()) return undefined;
  switch (format) {
    case 'as_is':
      return plain(receiptId);
    case 'resp_hex_receipt_dec':
      return decimal(receiptId);
    case 'resp_dec_receipt_hex':
      return decimalOfHex(receiptId);
  }
}

/**
 * The lookup key of a parsed receipt. SMPP 3.4 (§5.3.2.12) puts the id of the submit answer in the
 * receipted_message_id TLV, so a TLV is read in the submit answer's form, while the text's `id:` is
 * in the receipt form the connector declares. Some SMSCs write the TLV in the text's form instead;
 * when the text shows that (the TLV read in the receipt form equals the text's id), that reading is
 * taken. Without a TLV the text's id is used. Undefined: nothing to look up by.
 */
export function receiptKeyOf(
  format: ReceiptIdFormat,
  ids: { tlvId?: string; textId?: string },
): string | undefined {
  const text = receiptLookupKey(format, ids.textId);
  if (!ids.tlvId?.trim()) return text;
  const asResp = storedReceiptKey(format, ids.tlvId);
  if (text !== undefined && asResp !== text && receiptLookupKey(format, ids.tlvId) === text) return text;
  return asResp;
}
