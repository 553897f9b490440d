/**
 * This host as the distributed layer sees it (layer: lib/distributed): an identity that tells
 * whether two processes share a host, and the local IP address to listen on for peers. Used by
 * the cpu backend's tcp transport and by RPC.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { createError } from '../errors.js';

/** The host name and boot id: equal for two processes exactly when they run on one host (boot). */
export function hostIdentity(): string {
  let boot = '';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux: the host name alone
  }
  return `${hostname()}/${boot}`;
}

/**
 * The local IP address to listen on for peers: NODE_NCCL_SOCKET_ADDR, else the local address of
 * this process's connection to the store (the interface that reaches MASTER_ADDR, as Gloo picks
 * it), else 127.0.0.1 when every peer is on this host. `who` starts the error messages.
 */
export async function listenAddress(store: { readonly localAddress?: string | undefined }, oneHost: boolean, who: string): Promise<string> {
  const env = process.env.NODE_NCCL_SOCKET_ADDR?.trim();
  let addr = env || store.localAddress || (oneHost ? '127.0.0.1' : '');
  const source = env ? 'NODE_NCCL_SOCKET_ADDR' : "the store connection's local address";
  const hint = 'set NODE_NCCL_SOCKET_ADDR to the IP address of this host that the other ranks reach';
  if (!addr) throw createError('ERR_INVALID_ARG', `${who} cannot tell which local address to listen on; ${hint}`);
  if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
  if (addr.toLowerCase().startsWith('::ffff:') && isIP(addr.slice(7)) === 4) addr = addr.slice(7);
  if (isIP(addr) === 0) {
    try {
      addr = (await lookup(addr)).address;
    } catch (e) {
      throw createError('ERR_INVALID_ARG', `${who}: ${source} ${JSON.stringify(addr)} is not an IP address and does not resolve (${(e as Error).message}); ${hint}`);
    }
  }
  if (addr === '0.0.0.0' || addr === '::') {
    throw createError('ERR_INVALID_ARG', `${who}: ${source} is ${addr} (every interface), which the other ranks cannot connect to; ${hint}`);
  }
  return addr;
}
