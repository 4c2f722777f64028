import type { Command } from 'commander';
import {
  certificateFromFile,
  certificateHash,
  CoreError,
  cryptoBackend,
  decodeCertificateBody,
  openCaDirectory,
  type Certificate,
  type CertificateBody,
} from '@sivshm/core';
import { CliError } from '../errors/cli-error.js';
import { checkCaDirectory } from '../io/ca-directory.js';
import { readInputFile } from '../io/cli-files.js';

/** Far above any certificate (a few hundred bytes); a bigger file is not one. */
const MAX_CERTIFICATE_FILE = 64 * 1024;

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const h16 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(4, '0')}`;
const span = (lo: number, hi: number): string => (lo === hi ? h16(lo) : `${h16(lo)}-${h16(hi)}`);

function toJson(body: CertificateBody, hash: Uint8Array, verdict: unknown): unknown {
  return {
    version: body.version,
    kind: body.kind,
    serial: body.serial.toString(),
    epoch: body.epoch.toString(),
    vmId: body.vmId,
    subject: body.subject,
    publicKey: hex(body.publicKey),
    rights: body.rights,
    notBefore: new Date(Number(body.notBeforeMs)).toISOString(),
    notAfter: new Date(Number(body.notAfterMs)).toISOString(),
    issuerKeyId: hex(body.issuerKeyId),
    sha256: hex(hash),
    ...(verdict === undefined ? {} : { verification: verdict }),
  };
}

function human(
  body: CertificateBody,
  hash: Uint8Array,
  verdict: { ok: boolean; reason?: string } | undefined,
): string {
  const lines = [
    `${body.kind} certificate, serial ${body.serial}, epoch ${body.epoch}`,
    `  subject:     ${body.subject}`,
    `  vm:          ${body.vmId}`,
    `  public key:  ${hex(body.publicKey)}`,
    `  valid:       ${new Date(Number(body.notBeforeMs)).toISOString()} .. ${new Date(Number(body.notAfterMs)).toISOString()}`,
    `  issuer key:  ${hex(body.issuerKeyId)}`,
    `  sha256:      ${hex(hash)}`,
    `  may offer:   ${body.rights.offers.length === 0 ? '(nothing)' : ''}`,
    ...body.rights.offers.map(
      (o) => `    service ${h16(o.service)} instances ${span(o.instanceLo, o.instanceHi)}`,
    ),
    `  may request: ${body.rights.requests.length === 0 ? '(nothing)' : ''}`,
    ...body.rights.requests.map(
      (r) =>
        `    service ${h16(r.service)} instances ${span(r.instanceLo, r.instanceHi)} methods ${span(r.methodLo, r.methodHi)}`,
    ),
  ];
  if (verdict !== undefined)
    lines.push(`  verification: ${verdict.ok ? 'OK' : `FAILED: ${verdict.reason}`}`);
  return lines.join('\n');
}

/** Registers the `sivshm cert` commands. */
export function registerCertCommands(program: Command): void {
  const cert = program.command('cert').description('inspect certificates');
  cert
    .command('show')
    .description('print a certificate (PEM or raw); with --ca-dir also verify it against that CA')
    .argument('<file>', 'certificate file')
    .option('--json', 'print one JSON object')
    .option(
      '--ca-dir <dir>',
      'verify signature, epoch, validity time and revocation against this CA',
    )
    .action(async (file: string, o: { json?: boolean; caDir?: string }) => {
      const { c, body } = readCertificate(file);
      const crypto = cryptoBackend();
      let verdict: { ok: boolean; reason?: string } | undefined;
      if (o.caDir !== undefined) {
        checkCaDirectory(o.caDir);
        const opened = await openCaDirectory(o.caDir, {
          crypto,
          nowMs: () => BigInt(Date.now()),
          readOnly: true,
        });
        try {
          opened.ca.verify(c, body.kind);
          verdict = { ok: true };
        } catch (e) {
          if (!CoreError.is(e)) throw e;
          verdict = { ok: false, reason: `${e.message} [${e.code}]` };
        }
      }
      const hash = certificateHash(crypto, c);
      if (o.json === true) console.log(JSON.stringify(toJson(body, hash, verdict), null, 2));
      else console.log(human(body, hash, verdict));
      if (verdict?.ok === false) process.exitCode = 1;
    });
}

/**
 * The certificate in `file` (PEM or raw). Whatever does not decode as one, a key file given by
 * mistake included, is refused with a line that says what was expected.
 */
function readCertificate(file: string): { c: Certificate; body: CertificateBody } {
  const data = readInputFile(file, 'certificate file', MAX_CERTIFICATE_FILE);
  try {
    const c = certificateFromFile(data);
    return { c, body: decodeCertificateBody(c.tbs) };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new CliError(
      'ERR_INPUT',
      `${file} is not a sivshm certificate (${why}); give the PEM file \`sivshm ca issue\` wrote, not a key file`,
      { cause: e },
    );
  }
}
