import type { Command } from 'commander';
import { rmSync, writeFileSync } from 'node:fs';
import {
  certificateToPem,
  cryptoBackend,
  decodeCertificateBody,
  openCaDirectory,
  type Certificate,
  type CryptoBackend,
  type OfferRight,
  type RequestRight,
} from '@sivshm/core';
import { parseOffer, parseRequest } from '../args/service-rights.js';
import { wholeNumber } from '../args/whole-number.js';
import { CliError } from '../errors/cli-error.js';
import { isSystemError, systemErrorReason } from '../errors/fs-error-text.js';
import { checkCaDirectory } from '../io/ca-directory.js';
import { checkWritableFile, stageFile, type StagedFile } from '../io/cli-files.js';
import { restoreDirectory, snapshotDirectory } from '../io/directory-snapshot.js';
import { withCaWriteLock } from '../io/ca-lock.js';

interface IssueOptions {
  dir: string;
  vm: number;
  name: string;
  publicKey?: string;
  newKey?: string;
  offer: OfferRight[];
  request: RequestRight[];
  validityHours?: number;
  out?: string;
}

/** A year: certificates are short-lived (hostd re-enrols apps); the default is 12 hours. */
const MAX_VALIDITY_HOURS = 24 * 365;

export function registerCaIssue(ca: Command): void {
  ca.command('issue')
    .description(
      'issue an endpoint certificate directly (administrative path; apps normally enrol through hostd)',
    )
    .requiredOption('--dir <dir>', 'the CA directory')
    // VM ids start at 1 in services.yaml; 0 names the broker in its own certificate.
    .requiredOption('--vm <id>', 'vm_id the certificate is bound to (1..0xFFFFFFFF)', (v) =>
      wholeNumber(v, 'vm id', 1, 0xffff_ffff),
    )
    .requiredOption('--name <subject>', 'subject name (≤ 64 bytes)')
    .option('--public-key <hex>', "the endpoint's Ed25519 public key (64 hex chars)")
    .option(
      '--new-key <file>',
      'generate a key pair and write the secret key (hex, 0600) to this new file',
    )
    .option(
      '--offer <svc:inst>',
      'may OFFER service instances, e.g. 0x1234:1-4 (repeatable)',
      parseOffer,
      [],
    )
    .option(
      '--request <svc:inst[:methods]>',
      'may REQUEST, e.g. 0x1234:1:0x8000-0xFFFE (repeatable)',
      parseRequest,
      [],
    )
    .option('--validity-hours <h>', 'lifetime in hours (default 12)', (v) =>
      wholeNumber(v, 'validity', 1, MAX_VALIDITY_HOURS),
    )
    .option('--out <file>', 'write the certificate (PEM) here instead of stdout')
    .action(issueCertificate);
}

/** The endpoint's key: the public key given, or a fresh pair whose secret is still to be written. */
function endpointKey(
  o: IssueOptions,
  crypto: CryptoBackend,
): { publicKey: Uint8Array; secretKey?: Uint8Array } {
  if ((o.publicKey === undefined) === (o.newKey === undefined)) {
    throw new CliError('ERR_USAGE', 'give exactly one of --public-key HEX or --new-key FILE');
  }
  if (o.publicKey !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(o.publicKey))
      throw new CliError('ERR_USAGE', '--public-key must be 64 hex characters');
    return { publicKey: Uint8Array.from(Buffer.from(o.publicKey, 'hex')) };
  }
  const secretKey = crypto.ed25519GenerateSecretKey();
  return { publicKey: crypto.ed25519PublicKey(secretKey), secretKey };
}

/**
 * Issues in an order that leaves nothing behind on failure: every check first (the outputs can
 * be written; the CA opened read-only accepts the request, which checks its files, the subject
 * and the key), then the CA is opened for writing, the certificate issued, the key written and
 * the certificate staged beside its name, the serial persisted, and only then the certificate
 * put in place. A failure after the CA was opened removes what this command wrote and puts the
 * CA directory back as it was (opening it for writing already persists a serial).
 */
async function issueCertificate(o: IssueOptions): Promise<void> {
  const crypto = cryptoBackend();
  const key = endpointKey(o, crypto);
  checkCaDirectory(o.dir);
  if (o.newKey !== undefined) checkWritableFile(o.newKey, 'key file', true);
  if (o.out !== undefined) checkWritableFile(o.out, 'certificate file');
  const caOptions = {
    crypto,
    nowMs: () => BigInt(Date.now()),
    ...(o.validityHours === undefined ? {} : { validityMs: BigInt(o.validityHours) * 3_600_000n }),
  };
  const request = {
    vmId: o.vm,
    subject: o.name,
    publicKey: key.publicKey,
    rights: { offers: o.offer, requests: o.request },
    kind: 'endpoint',
  } as const;
  // The dry run: the same request to the CA opened read-only, which persists nothing.
  (await openCaDirectory(o.dir, { ...caOptions, readOnly: true })).ca.issue(request);

  // One writer at a time (ca-lock.ts): two issues never take the same serial, and none is
  // written behind a running hostd's back.
  const cert = await withCaWriteLock(
    o.dir,
    'apps enrol through it; stop hostd to issue a certificate by hand',
    async (): Promise<Certificate> => {
      const before = snapshotDirectory(o.dir);
      let keyWritten = false;
      let staged: StagedFile | undefined;
      try {
        const opened = await openCaDirectory(o.dir, caOptions);
        const cert = opened.ca.issue(request);
        if (key.secretKey !== undefined && o.newKey !== undefined) {
          writeSecretKey(o.newKey, key.secretKey);
          keyWritten = true;
        }
        if (o.out !== undefined)
          staged = stageFile(o.out, certificateToPem(cert), 'certificate file');
        await opened.save();
        staged?.commit();
        return cert;
      } catch (e) {
        staged?.discard();
        if (keyWritten && o.newKey !== undefined) rmSync(o.newKey, { force: true });
        restoreDirectory(before);
        throw e;
      }
    },
  );
  const serial = decodeCertificateBody(cert.tbs).serial;
  if (o.out === undefined) process.stdout.write(certificateToPem(cert));
  else console.error(`issued serial ${serial} for VM ${o.vm} (${o.name}) to ${o.out}`);
}

function writeSecretKey(file: string, secretKey: Uint8Array): void {
  try {
    // 'wx': never replace a file that appeared since the check.
    writeFileSync(file, Buffer.from(secretKey).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const why = isSystemError(e) ? systemErrorReason(e) : (e as Error).message;
    throw new CliError('ERR_IO', `cannot write key file ${file}: ${why}`, { cause: e });
  }
}
