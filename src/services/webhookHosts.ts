/**
 * Where webhooks may point, so that a webhook cannot be turned into a way into the server's
 * own network. A URL must be http(s) without credentials in it. With
 * LLMRING_WEBHOOK_ALLOWED_HOSTS set, its host must be listed (a name, an IP, or `*.example.com`
 * for any subdomain); unset, any public host may be named. An internal address (loopback,
 * private, link-local, carrier-grade NAT, unique-local, multicast, unspecified) is never
 * connected to unless its host is listed by name or address: checked when the webhook is
 * created and again on every delivery, against the addresses the name resolves to then (so a
 * name that later resolves inward is refused too).
 */
import { BlockList, isIP } from 'node:net';
import { badInput } from './errors';

const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

/** Whether an address is one a webhook must not reach unless its host is listed. */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return INTERNAL.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return true; // not an address: never connect
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

export class WebhookHostPolicy {
  private readonly exact: Set<string>;
  private readonly suffixes: string[];

  constructor(allowed: readonly string[]) {
    const names = allowed
      .map((h) =>
        h
          .trim()
          .toLowerCase()
          .replace(/^\[(.*)\]$/, '$1'),
      )
      .filter(Boolean);
    this.exact = new Set(names.filter((h) => !h.startsWith('*.')));
    this.suffixes = names.filter((h) => h.startsWith('*.')).map((h) => h.slice(1));
  }

  private hostOf(url: URL): string {
    return url.hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  }

  private listed(host: string): boolean {
    return this.exact.has(host) || this.suffixes.some((s) => host.endsWith(s));
  }

  /** The URL, checked; BAD_USER_INPUT naming `field` with the reason otherwise. */
  check(text: string, field = 'input.url'): URL {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw badInput(field, 'must be an absolute http or https URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw badInput(field, `must be an http or https URL, not ${url.protocol.replace(/:$/, '')}`);
    }
    if (url.username || url.password) {
      throw badInput(field, 'must not carry credentials; the signature authenticates the server');
    }
    const host = this.hostOf(url);
    if ((this.exact.size || this.suffixes.length) && !this.listed(host)) {
      throw badInput(field, `the host ${host} is not in LLMRING_WEBHOOK_ALLOWED_HOSTS`);
    }
    // An address in the URL, or a name that always means this machine, is judged now.
    const literal =
      isIP(host) !== 0 ? host : host === 'localhost' || host.endsWith('.localhost') ? '127.0.0.1' : null;
    if (literal !== null && !this.allowsAddress(url, literal)) {
      throw badInput(
        field,
        `${host} is an internal address; list it in LLMRING_WEBHOOK_ALLOWED_HOSTS to send webhooks there`,
      );
    }
    return url;
  }

  /** Whether a delivery to `url` may connect to `address`, one of the addresses its host resolved to. */
  allowsAddress(url: URL, address: string): boolean {
    return (
      !isInternalAddress(address) || this.exact.has(this.hostOf(url)) || this.exact.has(address.toLowerCase())
    );
  }
}
