/**
 * Mutual proof of the profile's secret. The secret itself never crosses the wire:
 * each side proves it by an HMAC over both nonces, so a recorded handshake cannot be
 * replayed and an impostor host cannot make a daemon run its code.
 */
import { nodeCrypto } from './node-crypto.js';

/** Environment variable through which launchers hand a daemon its profile's secret. */
export const SECRET_ENV = 'MIRAI_SECRET';

/** A fresh random secret (256 bits, base64url). */
export function newSecret(): string {
  return nodeCrypto().randomBytes(32).toString('base64url');
}

export function newNonce(): string {
  return nodeCrypto().randomBytes(16).toString('base64url');
}

/** Proof by `role` ('daemon' or 'host') that it knows `secret`, bound to both nonces. */
export function prove(secret: string, role: 'daemon' | 'host', hostNonce: string, daemonNonce: string): string {
  return nodeCrypto().createHmac('sha256', secret).update(`mirai-ts/1 ${role} ${hostNonce} ${daemonNonce}`).digest('base64url');
}

/** Constant-time check of a proof. */
export function verify(secret: string, role: 'daemon' | 'host', hostNonce: string, daemonNonce: string, proof: unknown): boolean {
  if (typeof proof !== 'string') return false;
  const expected = Buffer.from(prove(secret, role, hostNonce, daemonNonce));
  const given = Buffer.from(proof);
  return given.length === expected.length && nodeCrypto().timingSafeEqual(given, expected);
}
