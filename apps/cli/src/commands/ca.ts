import { InvalidArgumentError, type Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import {
  certificateToPem,
  CoreError,
  cryptoBackend,
  decodeCertificateBody,
  initCaDirectory,
  openCaDirectory,
  type OfferRight,
  type RequestRight,
} from '@sivshm/core';

const U16 = 0xffff;

function num(text: string, what: string, max: number): number {
  const v = /^0x[0-9a-f]+$/i.test(text)
    ? parseInt(text, 16)
    : /^\d+$/.test(text)
      ? Number(text)
      : NaN;
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new InvalidArgumentError(
      `${what} "${text}" must be a number 0..0x${max.toString(16).toUpperCase()} (decimal or 0x hex)`,
    );
  }
  return v;
}

function range(text: string, what: string): [number, number] {
  const [lo, hi = lo] = text.split('-');
  const a = num(lo ?? '', what, U16);
  const b = num(hi ?? '', what, U16);
  if (a > b) throw new InvalidArgumentError(`${what} range "${text}" has lo > hi`);
  return [a, b];
}

/** `SERVICE:INSTANCES`, e.g. `0x1234:1` or `0x1234:1-4`. */
export function parseOffer(text: string, prev: OfferRight[] = []): OfferRight[] {
  const [svc, inst] = text.split(':');
  if (svc === undefined || inst === undefined) {
    throw new InvalidArgumentError(`offer "${text}" must be SERVICE:INSTANCES, e.g. 0x1234:1-4`);
  }
  const [instanceLo, instanceHi] = range(inst, 'instance');
  return [...prev, { service: num(svc, 'service', U16), instanceLo, instanceHi }];
}

/** `SERVICE:INSTANCES[:METHODS]`, e.g. `0x1234:1` or `0x1234:1-4:0x8000-0xFFFE`. */
export function parseRequest(text: string, prev: RequestRight[] = []): RequestRight[] {
  const [svc, inst, meth] = text.split(':');
  if (svc === undefined || inst === undefined) {
    throw new InvalidArgumentError(
      `request "${text}" must be SERVICE:INSTANCES[:METHODS], e.g. 0x1234:1:0x8000-0xFFFE`,
    );
  }
  const [instanceLo, instanceHi] = range(inst, 'instance');
  const [methodLo, methodHi] = meth === undefined ? [0, U16] : range(meth, 'method');
  return [
    ...prev,
    { service: num(svc, 'service', U16), instanceLo, instanceHi, methodLo, methodHi },
  ];
}

/** Registers the `sivshm ca` commands: init, issue, revoke. */
export function registerCaCommands(program: Command): void {
  const ca = program
    .command('ca')
    .description(
      "manage hostd's certificate authority directory (CA key, broker key, serials, epoch)",
    );
  registerCaInit(ca);
  registerCaIssue(ca);
  registerCaRevoke(ca);
}

function registerCaInit(ca: Command): void {
  ca.command('init')
    .description('create a CA directory with a fresh CA key and broker key (files 0600)')
    .requiredOption('--dir <dir>', 'the CA directory')
    .option('--epoch <n>', 'first epoch (default 1)', (v) =>
      BigInt(num(v, 'epoch', Number.MAX_SAFE_INTEGER)),
    )
    .option('--force', 'replace an existing CA (every certificate it issued stops verifying)')
    .action(async (o: { dir: string; epoch?: bigint; force?: boolean }) => {
      const r = await initCaDirectory(o.dir, {
        crypto: cryptoBackend(),
        ...(o.force === undefined ? {} : { force: o.force }),
        ...(o.epoch === undefined ? {} : { epoch: o.epoch }),
      });
      console.log(`created CA in ${o.dir}`);
      console.log(`  CA public key:     ${Buffer.from(r.caPublicKey).toString('hex')}`);
      console.log(`  broker public key: ${Buffer.from(r.brokerPublicKey).toString('hex')}`);
    });
}

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

function registerCaIssue(ca: Command): void {
  ca.command('issue')
    .description(
      'issue an endpoint certificate directly (administrative path; apps normally enrol through hostd)',
    )
    .requiredOption('--dir <dir>', 'the CA directory')
    .requiredOption('--vm <id>', 'vm_id the certificate is bound to', (v) =>
      num(v, 'vm id', 0xffff_ffff),
    )
    .requiredOption('--name <subject>', 'subject name (≤ 64 bytes)')
    .option('--public-key <hex>', "the endpoint's Ed25519 public key (64 hex chars)")
    .option(
      '--new-key <file>',
      'generate a key pair and write the secret key (hex, 0600) to this file',
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
      num(v, 'validity', 24 * 365),
    )
    .option('--out <file>', 'write the certificate (PEM) here instead of stdout')
    .action(issueCertificate);
}

/** The endpoint's public key: given as hex, or generated with its secret written 0600. */
async function endpointPublicKey(o: IssueOptions): Promise<Uint8Array> {
  const crypto = cryptoBackend();
  if ((o.publicKey === undefined) === (o.newKey === undefined)) {
    throw new CoreError('ERR_BAD_KEY', 'give exactly one of --public-key HEX or --new-key FILE');
  }
  if (o.publicKey !== undefined) {
    if (!/^[0-9a-f]{64}$/i.test(o.publicKey))
      throw new CoreError('ERR_BAD_KEY', '--public-key must be 64 hex characters');
    return Uint8Array.from(Buffer.from(o.publicKey, 'hex'));
  }
  const secret = crypto.ed25519GenerateSecretKey();
  await writeFile(o.newKey!, Buffer.from(secret).toString('hex') + '\n', {
    mode: 0o600,
    flag: 'wx',
  });
  return crypto.ed25519PublicKey(secret);
}

async function issueCertificate(o: IssueOptions): Promise<void> {
  const publicKey = await endpointPublicKey(o);
  const opened = await openCaDirectory(o.dir, {
    crypto: cryptoBackend(),
    nowMs: () => BigInt(Date.now()),
    ...(o.validityHours === undefined ? {} : { validityMs: BigInt(o.validityHours) * 3_600_000n }),
  });
  const cert = opened.ca.issue({
    vmId: o.vm,
    subject: o.name,
    publicKey,
    rights: { offers: o.offer, requests: o.request },
    kind: 'endpoint',
  });
  await opened.save();
  const pem = certificateToPem(cert);
  const serial = decodeCertificateBody(cert.tbs).serial;
  if (o.out === undefined) process.stdout.write(pem);
  else {
    await writeFile(o.out, pem);
    console.error(`issued serial ${serial} for VM ${o.vm} (${o.name}) to ${o.out}`);
  }
}

function registerCaRevoke(ca: Command): void {
  ca.command('revoke')
    .description('revoke a certificate serial (hostd refuses it from its next start or reload)')
    .requiredOption('--dir <dir>', 'the CA directory')
    .requiredOption('--serial <n>', 'the serial to revoke', (v) =>
      BigInt(num(v, 'serial', Number.MAX_SAFE_INTEGER)),
    )
    .action(async (o: { dir: string; serial: bigint }) => {
      const opened = await openCaDirectory(o.dir, {
        crypto: cryptoBackend(),
        nowMs: () => BigInt(Date.now()),
      });
      opened.ca.revoke(o.serial);
      await opened.save();
      console.log(`revoked serial ${o.serial}`);
    });
}
