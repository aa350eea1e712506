/**
 * Bech32 checksum (BIP 173), the encoding of age recipients (`age1…`) and identities
 * (`AGE-SECRET-KEY-1…`). A typo in a recipient keeps the right alphabet and length but breaks
 * the checksum; checking it here refuses the key before every backup fails to encrypt.
 * age uses the original Bech32 constant (1), not Bech32m, and allows strings over 90 characters.
 */
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk >>> 0;
}

function expandHrp(hrp: string): number[] {
  const codes = [...hrp].map((c) => c.charCodeAt(0));
  return [...codes.map((c) => c >> 5), 0, ...codes.map((c) => c & 31)];
}

/**
 * The human-readable part of a well-formed Bech32 string with a valid checksum, else undefined.
 * Mixed case is invalid; one case throughout is accepted (identities are upper case).
 */
export function bech32Hrp(text: string): string | undefined {
  if (text !== text.toLowerCase() && text !== text.toUpperCase()) return undefined;
  const s = text.toLowerCase();
  const sep = s.lastIndexOf("1");
  if (sep < 1 || sep + 7 > s.length) return undefined;
  const hrp = s.slice(0, sep);
  if ([...hrp].some((c) => c.charCodeAt(0) < 33 || c.charCodeAt(0) > 126)) return undefined;
  const data: number[] = [];
  for (const c of s.slice(sep + 1)) {
    const v = CHARSET.indexOf(c);
    if (v < 0) return undefined;
    data.push(v);
  }
  return polymod([...expandHrp(hrp), ...data]) === 1 ? hrp : undefined;
}
