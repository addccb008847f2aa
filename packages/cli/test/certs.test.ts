import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCertificate, makeCertificateAuthority, writeTestCerts } from '../src/certs/make-certs.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-certs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const read = (name: string): string => readFileSync(join(dir, name), 'utf8');

describe('vigil certs', () => {
  it('writes a CA, member certificates with the hosts as SANs, and client certificates named by their CN', async () => {
    const written = await writeTestCerts({ out: dir, nodes: 2, hosts: ['127.0.0.1', 'vigil1'], clients: ['alice'] });
    expect(written.madeCa).toBe(true);
    expect(written.files.map((f) => f.slice(dir.length + 1))).toEqual([
      'ca.pem', 'ca-key.pem', 'node1.pem', 'node1-key.pem', 'node2.pem', 'node2-key.pem', 'client-alice.pem', 'client-alice-key.pem',
    ]);
    const ca = new X509Certificate(read('ca.pem'));
    expect(ca.ca).toBe(true);
    const node = new X509Certificate(read('node2.pem'));
    expect(node.verify(ca.publicKey)).toBe(true);
    expect(node.subject).toBe('CN=node2');
    expect(node.subjectAltName).toBe('IP Address:127.0.0.1, DNS:vigil1');
    expect(node.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(node.checkPrivateKey(createPrivateKey(read('node2-key.pem')))).toBe(true);
    const client = new X509Certificate(read('client-alice.pem'));
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(client.subject).toBe('CN=alice');
    expect(client.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    for (const key of ['ca-key.pem', 'node1-key.pem', 'client-alice-key.pem']) expect(statSync(join(dir, key)).mode & 0o777).toBe(0o600);
  });

  it('signs with the CA already in the directory when run again, with new serial numbers', async () => {
    const before = new X509Certificate(read('node1.pem'));
    const caBefore = read('ca.pem');
    const written = await writeTestCerts({ out: dir, nodes: 1, hosts: ['127.0.0.1'], clients: [] });
    expect(written.madeCa).toBe(false);
    expect(read('ca.pem')).toBe(caBefore);
    const after = new X509Certificate(read('node1.pem'));
    expect(after.verify(new X509Certificate(caBefore).publicKey)).toBe(true);
    expect(after.serialNumber).not.toBe(before.serialNumber);
  });

  it('a certificate of another CA does not verify against this one', () => {
    const foreign = makeCertificateAuthority({ commonName: 'someone else' });
    const cert = new X509Certificate(makeCertificate(foreign, { commonName: 'node1', role: 'member', hosts: ['127.0.0.1'] }).cert);
    expect(cert.verify(new X509Certificate(read('ca.pem')).publicKey)).toBe(false);
  });
});
