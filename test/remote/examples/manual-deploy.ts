import { daemons, hostUrl, launchRemote, remoteConfig } from '@mirai-ts/core';

/**
 * Listens on this machine's network address and returns one command per daemon, to paste
 * into a shell on any machine that has Node.js and @mirai-ts/core at the same path.
 */
export async function listenForRemoteDaemons(url = Object.values(hostUrl({ tls: true }))[0]!): Promise<string[]> {
  await daemons({ url }); // listen only: nothing starts here
  return launchRemote(2, remoteConfig()); // URL, CA certificate and secret included
}
