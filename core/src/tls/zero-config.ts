/**
 * Zero-config TLS: a fresh private CA and a server certificate for this host, made in
 * memory when a profile listens at a `tls+tcp://` URL without credentials. The CA's private
 * key is used once, to sign, and then dropped; only the CA certificate (public) goes to
 * daemons, which pin it.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { createCertificateAuthority, issueServerCertificate } from './x509.js';

/** What a TLS listener needs, and what its daemons need to trust it. */
export interface ZeroConfigCredentials {
  /** Server certificate chain, PEM (leaf first, then the CA). */
  readonly certPem: string;
  /** Server private key, PKCS#8 PEM. Stays in this process. */
  readonly keyPem: string;
  /** The CA certificate daemons pin, PEM. */
  readonly caPem: string;
  /** The names and addresses in the server certificate's subjectAltName. */
  readonly names: readonly string[];
}

/**
 * Every name a daemon might dial this host by: the URL's host, this machine's interface
 * addresses (except link-local IPv6, which needs a zone), its host name and `localhost`.
 * A wildcard listen address (`0.0.0.0`, `::`) comes last: local daemons launched with the
 * listener's URL dial it literally (it reaches this machine), so it must verify too.
 */
export function hostNames(urlHost: string): string[] {
  const names = new Set<string>();
  const wildcard = urlHost === '0.0.0.0' || urlHost === '::';
  if (!wildcard && urlHost !== '') names.add(urlHost);
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) {
      if (a.family === 'IPv6' && (a.scopeid ?? 0) !== 0) continue;
      if (a.address.toLowerCase().startsWith('fe80:')) continue;
      names.add(a.address);
    }
  }
  names.add('localhost');
  const own = hostname();
  if (own && isIP(own) === 0 && /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(own)) names.add(own);
  if (wildcard) names.add(urlHost);
  return [...names];
}

/** A new CA and a server certificate for `urlHost` and this machine's addresses. */
export function zeroConfigCredentials(urlHost: string): ZeroConfigCredentials {
  const id = randomBytes(4).toString('hex');
  const ca = createCertificateAuthority({ commonName: `mirai-ts CA ${id}`, organization: 'mirai-ts' });
  const names = hostNames(urlHost);
  const server = issueServerCertificate(ca, names, { commonName: names[0]!.slice(0, 64), organization: 'mirai-ts' });
  return {
    certPem: server.certPem + ca.certPem,
    keyPem: server.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    caPem: ca.certPem,
    names,
  };
}
