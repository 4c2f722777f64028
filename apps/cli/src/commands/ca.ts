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
import { hostdHolding, withCaWriteLock } from '../io/ca-lock.js';
import { askHostd } from '../io/hostd-admin.js';
import { registerCaIssue } from './ca-issue.js';

/** Registers the `sivshm ca` commands: init, issue, revoke, list. */
export function registerCaCommands(program: Command): void {
  const ca = program
    .command('ca')
    .description(
      "manage hostd's certificate authority directory (CA key, broker key, serials, epoch)",
    );
  registerCaInit(ca);
  registerCaIssue(ca);
  registerCaRevoke(ca);
  registerCaList(ca);
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
      const r = await withCaWriteLock(o.dir, 'stop it before replacing its CA', () =>
        initCaDirectory(o.dir, {
          crypto: cryptoBackend(),
          ...(o.force === undefined ? {} : { force: o.force }),
          ...(o.epoch === undefined ? {} : { epoch: o.epoch }),
        }),
      );
      console.log(`created CA in ${o.dir}`);
      console.log(`  CA public key:     ${Buffer.from(r.caPublicKey).toString('hex')}`);
      console.log(`  broker public key: ${Buffer.from(r.brokerPublicKey).toString('hex')}`);
    });
}

function registerCaRevoke(ca: Command): void {
  ca.command('revoke')
    .description(
      'revoke a certificate serial: through the running hostd when it holds the CA directory ' +
        "(the certificate's channels are torn down at once and its next handshakes refused), " +
        'otherwise in the directory (hostd refuses it from its next start)',
    )
    .requiredOption('--dir <dir>', 'the CA directory')
    .requiredOption('--serial <n>', 'the serial to revoke', (v) =>
      BigInt(wholeNumber(v, 'serial', 1, Number.MAX_SAFE_INTEGER)),
    )
    .action(revokeSerial);
}

async function revokeSerial(o: { dir: string; serial: bigint }): Promise<void> {
  checkCaDirectory(o.dir);
  const hostd = hostdHolding(o.dir);
  if (hostd?.adminSocket !== undefined) {
    const a = await askHostd(hostd.adminSocket, { op: 'revoke', serial: o.serial.toString() });
    console.log(
      a['alreadyRevoked'] === true
        ? `serial ${o.serial} was already revoked (hostd pid ${hostd.pid})`
        : `revoked serial ${o.serial} through hostd (pid ${hostd.pid}): ${String(a['channelsClosed'])} channel(s) torn down`,
    );
    return;
  }
  await withCaWriteLock(o.dir, 'run this command again to revoke through it', () =>
    revokeInDirectory(o),
  );
}

async function revokeInDirectory(o: { dir: string; serial: bigint }): Promise<void> {
  const crypto = cryptoBackend();
  const nowMs = (): bigint => BigInt(Date.now());
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

function registerCaList(ca: Command): void {
  ca.command('list')
    .description(
      "show the CA's epoch, the serials issued and revoked, and (while hostd runs) each VM's enrolled certificate",
    )
    .requiredOption('--dir <dir>', 'the CA directory')
    .option('--json', 'print JSON')
    .action(listCa);
}

async function listCa(o: { dir: string; json?: boolean }): Promise<void> {
  checkCaDirectory(o.dir);
  const hostd = hostdHolding(o.dir);
  let doc: CaListing;
  if (hostd?.adminSocket !== undefined) {
    const a = await askHostd(hostd.adminSocket, { op: 'list' });
    doc = { heldBy: `hostd (pid ${hostd.pid})`, ...(a as unknown as Omit<CaListing, 'heldBy'>) };
  } else {
    const peek = await openCaDirectory(o.dir, {
      crypto: cryptoBackend(),
      nowMs: () => BigInt(Date.now()),
      readOnly: true,
    });
    doc = {
      heldBy: 'nobody (hostd is not running on it)',
      epoch: peek.ca.epoch.toString(),
      nextSerial: decodeCertificateBody(peek.ca.brokerCertificate.tbs).serial.toString(),
      revoked: peek.ca.revokedSerials().map(String),
      enrolled: [],
    };
  }
  if (o.json === true) {
    console.log(JSON.stringify(doc));
    return;
  }
  const next = BigInt(doc.nextSerial);
  console.log(`CA directory ${o.dir}, held by ${doc.heldBy}`);
  console.log(`  epoch:          ${doc.epoch}`);
  console.log(`  serials issued: ${next > 1n ? `1..${next - 1n}` : 'none'}`);
  console.log(`  revoked:        ${doc.revoked.length > 0 ? doc.revoked.join(', ') : 'none'}`);
  for (const e of doc.enrolled) {
    console.log(`  enrolled now:   VM ${e.vm} (${e.name}) serial ${e.serial} "${e.subject}"`);
  }
}

/** What `ca list` prints, from hostd or from the directory. */
interface CaListing {
  readonly heldBy: string;
  readonly epoch: string;
  readonly nextSerial: string;
  readonly revoked: readonly string[];
  readonly enrolled: readonly { vm: number; name: string; serial: string; subject: string }[];
}
