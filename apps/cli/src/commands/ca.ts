import type { Command } from 'commander';
import {
  cryptoBackend,
  decodeCertificateBody,
  initCaDirectory,
  openCaDirectory,
} from '@sivshm/core';
import { wholeNumber } from '../args/whole-number.js';
import { CliError } from '../errors/cli-error.js';
import { checkCaDirectory } from '../io/ca-directory.js';
import { makeDirectories } from '../io/cli-files.js';
import { restoreDirectory, snapshotDirectory } from '../io/directory-snapshot.js';
import { registerCaIssue } from './ca-issue.js';

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
      BigInt(wholeNumber(v, 'epoch', 0, Number.MAX_SAFE_INTEGER)),
    )
    .option('--force', 'replace an existing CA (every certificate it issued stops verifying)')
    .action(async (o: { dir: string; epoch?: bigint; force?: boolean }) => {
      makeDirectories(o.dir, 'CA directory');
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

function registerCaRevoke(ca: Command): void {
  ca.command('revoke')
    .description('revoke a certificate serial (hostd refuses it from its next start or reload)')
    .requiredOption('--dir <dir>', 'the CA directory')
    .requiredOption('--serial <n>', 'the serial to revoke', (v) =>
      BigInt(wholeNumber(v, 'serial', 1, Number.MAX_SAFE_INTEGER)),
    )
    .action(revokeSerial);
}

async function revokeSerial(o: { dir: string; serial: bigint }): Promise<void> {
  const crypto = cryptoBackend();
  const nowMs = (): bigint => BigInt(Date.now());
  checkCaDirectory(o.dir);
  // Read-only first: the serials issued so far are the ones below the next free serial, which
  // the read-only CA's fresh broker certificate has just taken (and not persisted).
  const peek = await openCaDirectory(o.dir, { crypto, nowMs, readOnly: true });
  const nextSerial = decodeCertificateBody(peek.ca.brokerCertificate.tbs).serial;
  if (o.serial >= nextSerial) {
    throw new CliError(
      'ERR_REFUSED',
      `serial ${o.serial} was never issued by the CA in ${o.dir} ` +
        (nextSerial > 1n ? `(its serials so far are 1..${nextSerial - 1n})` : '(it issued none)'),
    );
  }
  if (peek.ca.isRevoked(o.serial)) {
    console.log(`serial ${o.serial} was already revoked`);
    return;
  }
  const before = snapshotDirectory(o.dir);
  try {
    const opened = await openCaDirectory(o.dir, { crypto, nowMs });
    opened.ca.revoke(o.serial);
    await opened.save();
  } catch (e) {
    restoreDirectory(before);
    throw e;
  }
  console.log(`revoked serial ${o.serial}`);
}
