/**
 * Redis Cluster's key → slot mapping (CRC16/XMODEM of the hash tag, mod 16384), so the engine can
 * group channels by slot before sending them: one SSUBSCRIBE may only name channels of one slot.
 */

export const SLOT_COUNT = 16384;

const table = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  table[byte] = crc;
}

/** The part of a key Redis hashes: the text between the first `{` and the next `}`, when not empty. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

export function slotOf(key: string): number {
  let crc = 0;
  for (const byte of Buffer.from(hashTag(key), 'utf8')) crc = ((crc << 8) & 0xffff) ^ table[((crc >> 8) ^ byte) & 0xff];
  return crc % SLOT_COUNT;
}
