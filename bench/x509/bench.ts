// @ts-nocheck -- the candidate libraries are installed only in the scratch directory, not in this repository.
// X.509 library benchmark for the operator's identity service (ECDSA P-256 only).
// Not part of the product: run it in a scratch directory where the candidates are installed, see RESULTS.md.
//   mkdir /tmp/x509bench && cd /tmp/x509bench && npm init -y && npm pkg set type=module
//     && npm i @peculiar/x509@2.2.0 reflect-metadata pkijs jsrsasign esbuild
//   cp <repo>/bench/x509/bench.ts . && WEFT_REPO=<repo> node bench.ts
// For each library: CSR parse + signature verify, leaf signing (SPIFFE URI SAN, 24h), chain verify
// (leaf signature against the issuer key), then openssl verify of one produced leaf.
import 'reflect-metadata'; // @peculiar/x509 2.x needs a Reflect metadata polyfill (tsyringe)
import { execFileSync } from 'node:child_process';
import { createPrivateKey, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import jsrsasign from 'jsrsasign';
import * as pkijs from 'pkijs';

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);
pkijs.setEngine('node', new pkijs.CryptoEngine({ crypto }));

const dir = mkdtempSync(join(tmpdir(), 'x509bench-'));
const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/frontend';
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DURATION_MS = Number(process.env.BENCH_MS ?? 2000);

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Library-neutral inputs, made with openssl: a CA (trust anchor) and a CSR from a P-256 key.
openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'ca.key')]);
openssl([
  'req',
  '-x509',
  '-new',
  '-key',
  join(dir, 'ca.key'),
  '-subj',
  '/CN=bench root',
  '-days',
  '30',
  '-addext',
  'basicConstraints=critical,CA:TRUE',
  '-addext',
  'keyUsage=critical,keyCertSign,cRLSign',
  '-out',
  join(dir, 'ca.pem'),
]);
openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'leaf.key')]);
const csrPem = openssl(['req', '-new', '-key', join(dir, 'leaf.key'), '-subj', '/', '-outform', 'PEM']);
const caPem = openssl(['x509', '-in', join(dir, 'ca.pem')]);
const caKeyPkcs8 = createPrivateKey(openssl(['pkey', '-in', join(dir, 'ca.key')]))
  .export({ type: 'pkcs8', format: 'pem' })
  .toString();

async function measure(name: string, fn: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < DURATION_MS) {
    await fn();
    n++;
  }
  const opsPerSec = (n * 1000) / (performance.now() - start);
  process.stdout.write(`${name.padEnd(34)} ${opsPerSec.toFixed(0).padStart(7)} ops/s\n`);
  return opsPerSec;
}

function opensslAccepts(label: string, leafPem: string): void {
  const f = join(dir, `${label}.pem`);
  writeFileSync(f, leafPem);
  const out = openssl(['verify', '-CAfile', join(dir, 'ca.pem'), f]).trim();
  const san = new X509Certificate(leafPem).subjectAltName;
  process.stdout.write(`${label.padEnd(34)} openssl: ${out.split(': ').pop()} SAN=${san}\n`);
}

function derOf(pem: string): ArrayBuffer {
  const b64 = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

// ---- @peculiar/x509 ----
async function peculiar(): Promise<void> {
  const caKey = await crypto.subtle.importKey('pkcs8', derOf(caKeyPkcs8), EC, false, ['sign']);
  const ca = new x509.X509Certificate(caPem);
  const caPub = await ca.publicKey.export(EC, ['verify'], crypto);
  let serial = 1;
  const sign = async () => {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) throw new Error('bad csr');
    const now = Date.now();
    return x509.X509CertificateGenerator.create({
      serialNumber: (serial++).toString(16).padStart(2, '0'),
      subject: '',
      issuer: ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
      publicKey: csr.publicKey,
      signingKey: caKey,
      signingAlgorithm: EC,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
          false,
        ),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: SPIFFE }], true),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false, crypto),
      ],
    });
  };
  const leaf = await sign();
  await measure('peculiar csr parse+verify', async () => {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) throw new Error('bad csr');
  });
  await measure('peculiar csr verify + leaf sign', sign);
  const leafPem = leaf.toString('pem');
  await measure('peculiar chain verify', async () => {
    const c = new x509.X509Certificate(leafPem);
    if (!(await c.verify({ publicKey: caPub, signatureOnly: true }))) throw new Error('bad chain');
  });
  opensslAccepts('peculiar leaf', leafPem);
}

// ---- jsrsasign ----
function jsr(): void {
  const { KJUR, KEYUTIL, X509: JX509 } = jsrsasign;
  const caKey = KEYUTIL.getKey(caKeyPkcs8);
  const caX = new JX509();
  caX.readCertPEM(caPem);
  const caPubKey = caX.getPublicKey();
  let serial = 1;
  const sign = () => {
    if (!KJUR.asn1.csr.CSRUtil.verifySignature(csrPem)) throw new Error('bad csr');
    const p = KJUR.asn1.csr.CSRUtil.getParam(csrPem);
    const fmt = (d: Date) => `${d.toISOString().replace(/[-:T]/g, '').slice(2, 14)}Z`;
    const now = Date.now();
    const cert = new KJUR.asn1.x509.Certificate({
      version: 3,
      serial: { int: serial++ },
      issuer: { str: caX.getSubjectString() },
      notbefore: fmt(new Date(now - 60_000)),
      notafter: fmt(new Date(now + 86_400_000)),
      subject: { str: '' },
      sbjpubkey: p.sbjpubkey,
      ext: [
        { extname: 'basicConstraints', critical: true },
        { extname: 'keyUsage', critical: true, names: ['digitalSignature'] },
        { extname: 'extKeyUsage', array: [{ name: 'serverAuth' }, { name: 'clientAuth' }] },
        { extname: 'subjectAltName', critical: true, array: [{ uri: SPIFFE }] },
      ],
      sigalg: 'SHA256withECDSA',
      cakey: caKey,
    } as never);
    return cert.getPEM();
  };
  const leafPem = sign();
  return void Promise.resolve()
    .then(() =>
      measure('jsrsasign csr parse+verify', () => {
        if (!KJUR.asn1.csr.CSRUtil.verifySignature(csrPem)) throw new Error('bad csr');
        KJUR.asn1.csr.CSRUtil.getParam(csrPem);
      }),
    )
    .then(() => measure('jsrsasign csr verify + leaf sign', sign))
    .then(() =>
      measure('jsrsasign chain verify', () => {
        const c = new JX509();
        c.readCertPEM(leafPem);
        if (!c.verifySignature(caPubKey)) throw new Error('bad chain');
      }),
    )
    .then(() => opensslAccepts('jsrsasign leaf', leafPem));
}

// ---- pkijs ----
async function pki(): Promise<void> {
  const caKey = await crypto.subtle.importKey('pkcs8', derOf(caKeyPkcs8), EC, false, ['sign']);
  const ca = pkijs.Certificate.fromBER(derOf(caPem));
  let serial = 1;
  const sign = async () => {
    const csr = pkijs.CertificationRequest.fromBER(derOf(csrPem));
    if (!(await csr.verify())) throw new Error('bad csr');
    const cert = new pkijs.Certificate();
    cert.version = 2;
    cert.serialNumber = new asn1js.Integer({ value: serial++ });
    cert.issuer = ca.subject;
    cert.subject = csr.subject;
    const now = Date.now();
    cert.notBefore.value = new Date(now - 60_000);
    cert.notAfter.value = new Date(now + 86_400_000);
    cert.subjectPublicKeyInfo = csr.subjectPublicKeyInfo;
    cert.extensions = [
      new pkijs.Extension({
        extnID: '2.5.29.19',
        critical: true,
        extnValue: new pkijs.BasicConstraints({ cA: false }).toSchema().toBER(false),
      }),
      new pkijs.Extension({
        extnID: '2.5.29.17',
        critical: true,
        extnValue: new pkijs.GeneralNames({
          names: [new pkijs.GeneralName({ type: 6, value: SPIFFE })],
        })
          .toSchema()
          .toBER(false),
      }),
    ];
    await cert.sign(caKey, 'SHA-256');
    return cert;
  };
  const leaf = await sign();
  await measure('pkijs csr parse+verify', async () => {
    const csr = pkijs.CertificationRequest.fromBER(derOf(csrPem));
    if (!(await csr.verify())) throw new Error('bad csr');
  });
  await measure('pkijs csr verify + leaf sign', sign);
  const leafDer = leaf.toSchema().toBER(false);
  await measure('pkijs chain verify', async () => {
    const c = pkijs.Certificate.fromBER(leafDer);
    if (!(await c.verify(ca))) throw new Error('bad chain');
  });
  const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(leafDer).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  opensslAccepts('pkijs leaf', pem.replace('\n\n', '\n'));
}

// ---- weft: node:crypto + own minimal DER (operator/src/identity), imported from the repository ----
async function weft(): Promise<void> {
  const repo = process.env.WEFT_REPO;
  if (repo === undefined) return;
  const id = await import(join(repo, 'operator/src/identity/index.ts'));
  const anchor = id.generateTrustAnchor('cluster.local');
  const ca = new id.CertificateAuthority(
    { anchors: [anchor.cert], issuer: id.generateIssuer(anchor, 'cluster.local') },
    { trustDomain: 'cluster.local' },
  );
  await measure('weft csr parse+verify', () => id.verifyCsr(csrPem));
  await measure('weft csr verify + leaf sign', () => ca.issue(csrPem, SPIFFE));
  const chain = id.splitPemCertificates(ca.issue(csrPem, SPIFFE).certificateChain);
  const issuerKey = new X509Certificate(chain[1]).publicKey;
  await measure('weft chain verify', () => {
    if (!new X509Certificate(chain[0]).verify(issuerKey)) throw new Error('bad chain');
  });
  writeFileSync(join(dir, 'weft-anchor.pem'), anchor.cert.toString());
  writeFileSync(join(dir, 'weft-int.pem'), chain[1]);
  writeFileSync(join(dir, 'weft-leaf.pem'), chain[0]);
  const out = openssl([
    'verify',
    '-CAfile',
    join(dir, 'weft-anchor.pem'),
    '-untrusted',
    join(dir, 'weft-int.pem'),
    join(dir, 'weft-leaf.pem'),
  ]).trim();
  process.stdout.write(`${'weft leaf'.padEnd(34)} openssl: ${out.split(': ').pop()}\n`);
}

// ---- node:crypto baseline (what any library's verify costs underneath) ----
async function baseline(): Promise<void> {
  const ca = new X509Certificate(caPem);
  await measure('node:crypto parse+verify (ref)', () => {
    if (!new X509Certificate(caPem).verify(ca.publicKey)) throw new Error('bad');
  });
}

await peculiar();
await jsr();
await pki();
await weft();
await baseline();
process.stdout.write(`node ${process.version}\n`);
