/* global fetch, AbortController, setTimeout */
// The Vigil image's HEALTHCHECK (Dockerfile): healthy while GET /readyz on this node's client port
// answers 200. The port comes from VIGIL_CLIENT_LISTEN, as the node's does; VIGIL_HEALTHCHECK_URL
// overrides the whole URL (for a node configured by flags or a file instead). Node's own fetch,
// because the slim base image has no curl or wget. Exit 0 healthy, 1 not.

const timeoutMs = 2_000;

function readyzUrl(env) {
  if (env.VIGIL_HEALTHCHECK_URL) return env.VIGIL_HEALTHCHECK_URL;
  const listen = env.VIGIL_CLIENT_LISTEN || '0.0.0.0:8181';
  const colon = listen.lastIndexOf(':');
  let host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  // A wildcard listener is reached on loopback.
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.slice(colon + 1)}/readyz`;
}

const url = readyzUrl(process.env);
// A timer of its own rather than AbortSignal.timeout(), whose timer does not keep the process
// alive: Node 20's fetch can hang on a connection that is closed at once.
const controller = new AbortController();
setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
try {
  const res = await fetch(url, { signal: controller.signal });
  const body = await res.text();
  if (res.status === 200) process.exit(0);
  process.stderr.write(`${url}: ${res.status} ${body}\n`);
} catch (err) {
  process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
}
process.exit(1);
