/**
 * A minimal DER (ASN.1 Distinguished Encoding Rules) encoder: just the types an X.509
 * certificate needs. Written by hand so that core keeps zero runtime dependencies.
 * Every function returns the complete TLV (tag, length, value) as bytes.
 */

/** Universal tags used here. */
const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  ObjectIdentifier: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const;

function concat(parts: readonly Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

/** Definite-length encoding: short form below 128, long form otherwise. */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV with any tag byte. */
export function tlv(tag: number, value: Uint8Array): Buffer {
  return concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export function sequence(...items: Uint8Array[]): Buffer {
  return tlv(Tag.Sequence, concat(items));
}

/** SET OF: DER wants the elements sorted by their encodings. */
export function set(...items: Uint8Array[]): Buffer {
  const sorted = [...items].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return tlv(Tag.Set, concat(sorted));
}

export function boolean(value: boolean): Buffer {
  return tlv(Tag.Boolean, Buffer.from([value ? 0xff : 0x00]));
}

export function nullValue(): Buffer {
  return tlv(Tag.Null, Buffer.alloc(0));
}

/**
 * INTEGER from a non-negative number or big-endian magnitude bytes. DER wants the shortest
 * two's-complement form, so leading zeros go and a 0x00 is added when the top bit is set.
 */
export function integer(value: number | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`DER integer must be a safe non-negative integer, got ${value}`);
    const digits: number[] = [];
    for (let n = value; n > 0; n = Math.floor(n / 256)) digits.unshift(n & 0xff);
    bytes = Buffer.from(digits.length === 0 ? [0] : digits);
  } else {
    bytes = Buffer.from(value);
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    bytes = bytes.subarray(start);
    if (bytes.length === 0) bytes = Buffer.from([0]);
  }
  if ((bytes[0]! & 0x80) !== 0) bytes = concat([Buffer.from([0]), bytes]);
  return tlv(Tag.Integer, bytes);
}

/** BIT STRING holding whole bytes (a signature, a public key): zero unused bits. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  if (unusedBits < 0 || unusedBits > 7) throw new RangeError(`unused bits must be 0..7, got ${unusedBits}`);
  return tlv(Tag.BitString, concat([Buffer.from([unusedBits]), bytes]));
}

/**
 * BIT STRING for a NamedBitList such as KeyUsage: bit 0 is the most significant bit of the
 * first byte; DER drops trailing zero bits and records how many bits of the last byte are unused.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return bitString(Buffer.alloc(0));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return bitString(bytes, 7 - (highest & 7));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(Tag.OctetString, bytes);
}

/** OBJECT IDENTIFIER from dotted text, e.g. '2.5.4.3'. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    if (!/^\d+$/.test(arc)) throw new RangeError(`invalid OID '${dotted}'`);
    return Number(arc);
  });
  if (arcs.length < 2 || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) throw new RangeError(`invalid OID '${dotted}'`);
  const body: number[] = [];
  const base128 = (n: number): void => {
    const chunk: number[] = [n & 0x7f];
    for (let rest = Math.floor(n / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift((rest & 0x7f) | 0x80);
    body.push(...chunk);
  };
  base128(arcs[0]! * 40 + arcs[1]!);
  for (const arc of arcs.slice(2)) base128(arc);
  return tlv(Tag.ObjectIdentifier, Buffer.from(body));
}

export function utf8String(text: string): Buffer {
  return tlv(Tag.Utf8String, Buffer.from(text, 'utf8'));
}

export function printableString(text: string): Buffer {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)) throw new RangeError(`'${text}' is not a PrintableString`);
  return tlv(Tag.PrintableString, Buffer.from(text, 'ascii'));
}

export function ia5String(text: string): Buffer {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new RangeError(`'${text}' is not an IA5String (ASCII only)`);
  return tlv(Tag.Ia5String, Buffer.from(text, 'ascii'));
}

/**
 * X.509 Time: UTCTime for years 1950–2049 and GeneralizedTime otherwise (RFC 5280 §4.1.2.5),
 * to the second, in UTC.
 */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const two = (n: number): string => String(n).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return tlv(Tag.UtcTime, Buffer.from(`${two(year % 100)}${rest}`, 'ascii'));
  return tlv(Tag.GeneralizedTime, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'ascii'));
}

/** Context-specific EXPLICIT tag [n]: wraps a complete TLV. */
export function explicit(n: number, inner: Uint8Array): Buffer {
  return tlv(0xa0 | n, inner);
}

/** Context-specific IMPLICIT primitive tag [n]: replaces the tag of a primitive value. */
export function implicitPrimitive(n: number, value: Uint8Array): Buffer {
  return tlv(0x80 | n, value);
}
