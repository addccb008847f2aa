import { isIPv6 } from 'node:net';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export const portMax = 65_535;

/** Hostnames, IPv4 literals and names like `node-1.vigil.svc`; IPv6 literals go in brackets. */
const hostnamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?$/;

/**
 * Parses `host:port` or `[ipv6]:port`. Returns the problem as a string instead of throwing, so
 * that callers can say which setting and which source it came from.
 */
export function parseHostPort(text: string, options: { portMin?: number } = {}): HostPort | string {
  const portMin = options.portMin ?? 1;
  const trimmed = text.trim();
  let host: string;
  let portText: string;
  if (trimmed.startsWith('[')) {
    const close = trimmed.indexOf(']');
    if (close < 0 || trimmed[close + 1] !== ':') return `"${text}" is not [ipv6]:port`;
    host = trimmed.slice(1, close);
    portText = trimmed.slice(close + 2);
    if (!isIPv6(host)) return `"${host}" in "${text}" is not an IPv6 address`;
  } else {
    const colon = trimmed.lastIndexOf(':');
    if (colon < 0) return `"${text}" is not host:port (the port is missing)`;
    host = trimmed.slice(0, colon);
    portText = trimmed.slice(colon + 1);
    if (host.includes(':')) return `"${text}" is not host:port (write IPv6 addresses as [::1]:port)`;
    if (host === '') return `"${text}" is not host:port (the host is missing)`;
    if (!hostnamePattern.test(host)) return `"${host}" in "${text}" is not a valid host name or address`;
  }
  if (!/^\d+$/.test(portText)) return `the port "${portText}" in "${text}" is not a number`;
  const port = Number(portText);
  if (port < portMin || port > portMax) {
    return `the port ${port} in "${text}" is out of range (${portMin}–${portMax})`;
  }
  return { host, port };
}

export function formatHostPort(address: HostPort): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Two addresses are the same endpoint when host (case-insensitive) and port match. */
export function sameHostPort(a: HostPort, b: HostPort): boolean {
  return a.port === b.port && a.host.toLowerCase() === b.host.toLowerCase();
}
