/* global fetch, AbortController, setTimeout */
// The Vigil image's HEALTHCHECK (Dockerfile): healthy while GET /readyz on this node's client port
// answers 200. The port comes from VIGIL_CLIENT_LISTEN, as the node's does; VIGIL_HEALTHCHECK_URL
// overrides the whole URL (for a node configured by flags or a file instead). With TLS on
// (VIGIL_TLS_CA set) it asks over HTTPS and trusts that CA; the name in the certificate is not
// checked, since the node is asked on loopback, whatever names its certificate carries. Node's
// own fetch and https, because the slim base image has no curl or wget. Exit 0 healthy, 1 not.
import { readFileSync } from 'node:fs';
import { get } from 'node:https';

const timeoutMs = 2_000;

function readyzUrl(env) {
  if (env.VIGIL_HEALTHCHECK_URL) return env.VIGIL_HEALTHCHECK_URL;
  const listen = env.VIGIL_CLIENT_LISTEN || '0.0.0.0:8181';
  const colon = listen.lastIndexOf(':');
  let host = listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  // A wildcard listener is reached on loopback.
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  const scheme = env.VIGIL_TLS_CA ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${listen.slice(colon + 1)}/readyz`;
}

/** GET over HTTPS with the cluster's CA (fetch takes no CA): resolves with the status and body. */
function getWithCa(url, ca, signal) {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, checkServerIdentity: () => undefined, signal }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

const url = readyzUrl(process.env);
// A timer of its own rather than AbortSignal.timeout(), whose timer does not keep the process
// alive: Node 20's fetch can hang on a connection that is closed at once.
const controller = new AbortController();
setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
try {
  const caFile = process.env.VIGIL_TLS_CA;
  const { status, body } = url.startsWith('https:') && caFile
    ? await getWithCa(url, readFileSync(caFile), controller.signal)
    : await fetch(url, { signal: controller.signal }).then(async (res) => ({ status: res.status, body: await res.text() }));
  if (status === 200) process.exit(0);
  process.stderr.write(`${url}: ${status} ${body}\n`);
} catch (err) {
  process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`);
}
process.exit(1);
