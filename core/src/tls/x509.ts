/**
 * X.509 v3 certificates with node:crypto alone: ECDSA P-256 keys from generateKeyPairSync,
 * the TBSCertificate encoded by the DER encoder in `der.ts`, signed with crypto.sign.
 * Enough for a private CA and the server certificates it issues (RFC 5280 profile).
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  integer,
  namedBits,
  octetString,
  oid,
  sequence,
  set,
  time,
  utf8String,
} from './der.js';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KeyUsageBit = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** A key pair plus the certificate for its public key. */
export interface IssuedCertificate {
  /** The certificate, PEM. */
  readonly certPem: string;
  /** The certificate, DER. */
  readonly certDer: Buffer;
  /** The private key, as a KeyObject (never written anywhere by this module). */
  readonly privateKey: KeyObject;
  /** Subject key identifier, to link certificates to their issuer. */
  readonly keyId: Buffer;
  /** The subject common name. */
  readonly commonName: string;
  /** The subject name, DER: the issuer name of certificates this one signs. */
  readonly subject: Buffer;
}

export interface CertificateOptions {
  readonly commonName: string;
  /** Organization (O) in the subject. */
  readonly organization?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

/** A fresh ECDSA P-256 key pair. */
export function newKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

/** A self-signed CA certificate, allowed to sign server certificates only (path length 0). */
export function createCertificateAuthority(options: CertificateOptions): IssuedCertificate {
  const { publicKey, privateKey } = newKeyPair();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = subjectKeyId(spki);
  const name = distinguishedName(options);
  const extensions = [
    extension(OID.basicConstraints, true, sequence(boolean(true), integer(0))),
    extension(OID.keyUsage, true, namedBits([KeyUsageBit.keyCertSign, KeyUsageBit.cRLSign])),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
  ];
  const certDer = signCertificate(tbsCertificate(name, name, spki, options, extensions), privateKey);
  return { certDer, certPem: toPem(certDer), privateKey, keyId, commonName: options.commonName, subject: name };
}

/**
 * A server certificate signed by `ca`, valid for `names`: IP addresses become iPAddress
 * subjectAltNames, anything else a dNSName (node:tls checks SANs, never the CN, for IPs).
 */
export function issueServerCertificate(
  ca: IssuedCertificate,
  names: readonly string[],
  options: CertificateOptions,
): IssuedCertificate {
  if (names.length === 0) throw new ConfigError('a server certificate needs at least one host name or IP address');
  const { publicKey, privateKey } = newKeyPair();
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = subjectKeyId(spki);
  const extensions = [
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, namedBits([KeyUsageBit.digitalSignature])),
    extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
    extension(OID.subjectAltName, false, subjectAltNames(names)),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, ca.keyId))),
  ];
  const subject = distinguishedName(options);
  // The issuer name must equal the CA's subject byte for byte, or chain building fails.
  const tbs = tbsCertificate(ca.subject, subject, spki, options, extensions);
  const certDer = signCertificate(tbs, ca.privateKey);
  return { certDer, certPem: toPem(certDer), privateKey, keyId, commonName: options.commonName, subject };
}

/** PEM armour for a DER certificate. */
export function toPem(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** IPv4 or IPv6 text → 4 or 16 network-order bytes. A zone (`%eth0`) is not allowed. */
export function ipBytes(address: string): Buffer {
  const family = isIP(address);
  if (family === 4) return Buffer.from(address.split('.').map(Number));
  if (family !== 6 || address.includes('%')) throw new ConfigError(`'${address}' is not an IP address usable in a certificate`);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is the last two 16-bit groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    `${((Number(a) << 8) | Number(b)).toString(16)}:${((Number(c) << 8) | Number(d)).toString(16)}`,
  );
  const [head, rest] = text.includes('::') ? text.split('::') : [text, undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<number>(Math.max(zeros, 0)).fill(0), ...right];
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff))) throw new ConfigError(`cannot parse IPv6 address '${address}'`);
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  return bytes;
}

// ---------------------------------------------------------------------------

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function distinguishedName(options: { commonName: string; organization?: string }): Buffer {
  const rdns: Buffer[] = [];
  if (options.organization !== undefined) rdns.push(set(sequence(oid(OID.organization), utf8String(options.organization))));
  rdns.push(set(sequence(oid(OID.commonName), utf8String(options.commonName))));
  return sequence(...rdns);
}

/** A dNSName is an IA5String: ASCII only (internationalized names must be given in punycode). */
function dnsNameBytes(name: string): Buffer {
  if (!/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) {
    throw new ConfigError(`'${name}' is not a host name usable in a certificate (ASCII letters, digits, '-' and '.')`);
  }
  return Buffer.from(name, 'ascii');
}

function subjectAltNames(names: readonly string[]): Buffer {
  const general = names.map((name) =>
    isIP(name) !== 0 ? implicitPrimitive(7, ipBytes(name)) : implicitPrimitive(2, dnsNameBytes(name)),
  );
  return sequence(...general);
}

/** SHA-1 of the subjectPublicKey bits: the usual key identifier (RFC 5280 §4.2.1.2, method 1). */
function subjectKeyId(spki: Buffer): Buffer {
  // The SPKI is SEQUENCE { AlgorithmIdentifier, BIT STRING }; the key bits are the BIT STRING's
  // content after its unused-bits byte. For P-256 they are the last 65 bytes (uncompressed point).
  const point = spki.subarray(spki.length - 65);
  return createHash('sha1').update(point).digest();
}

function tbsCertificate(issuer: Buffer, subject: Buffer, spki: Buffer, options: CertificateOptions, extensions: Buffer[]): Buffer {
  const now = Date.now();
  // Backdated an hour so a daemon whose clock runs a little behind still accepts it.
  const notBefore = options.notBefore ?? new Date(now - 60 * 60 * 1000);
  const notAfter = options.notAfter ?? new Date(now + 365 * 24 * 60 * 60 * 1000);
  if (!(notAfter.getTime() > notBefore.getTime())) throw new ConfigError('certificate notAfter must be later than notBefore');
  // A positive serial of at most 20 bytes with 64+ bits of randomness (CA/B forum habit).
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  return sequence(
    explicit(0, integer(2)), // v3
    integer(serial),
    sequence(oid(OID.ecdsaWithSha256)),
    issuer,
    sequence(time(notBefore), time(notAfter)),
    subject,
    spki,
    explicit(3, sequence(...extensions)),
  );
}

function signCertificate(tbs: Buffer, key: KeyObject): Buffer {
  // ECDSA with SHA-256; node returns the DER Ecdsa-Sig-Value that X.509 expects.
  const signature = sign('sha256', tbs, key);
  return sequence(tbs, sequence(oid(OID.ecdsaWithSha256)), bitString(signature));
}
