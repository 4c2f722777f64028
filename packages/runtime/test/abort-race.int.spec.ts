// A consumer handshake that outlives hostd's pending-handshake deadline after hostd sent M4
// (docs/security.md, teardown): hostd quarantines the window, REVOKEs it at the consumer and
// ABORTs the handshake. A slow guest then reads the M4, the REVOKE and the ABORT in one read,
// and the runtime handles all three before the grant reaches `openChannel` (a few microtasks
// later). A proxy on the consumer's control link makes that happen every time: it holds the M4
// until the REVOKE and the ABORT are in, then delivers the three in one write.
//
// Before the fix the revoke handler looked the channel up while it was still on its way, found
// nothing to stop, and revoked the device after `openChannel` had mapped the window and started
// the channel: its heartbeat then wrote to the revoked window. In qemu mode sivshm.ko had zapped
// it (SIGBUS: the consumer app's "Bus error" in tier 3); in emulated mode the device leaves a
// PROT_NONE reservation there (SIGSEGV: this test process died).
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ControlConnection, MessageType, peekControl, type ControlMessage } from '@sivshm/core';
import { readStatus, setUpEachTest, waitFor } from './support/deployment.js';

/** Short, so the test does not wait long for the abort; the retry must still fit in it. */
const DEADLINE_MS = 600;

/**
 * Forwards the control link of VM `vm` from `<proxyDir>/<vm>.sock` to hostd's socket, holding
 * hostd's first M4 and everything after it until a REVOKE and an ABORT followed.
 */
function raceProxy(hostdRunDir: string, proxyDir: string, vm: string): net.Server {
  const server = net.createServer((vmSocket) => {
    const hostdSocket = net.connect(path.join(hostdRunDir, `${vm}.sock`));
    let held: ControlMessage[] | undefined;
    let raced = false;
    const toVm: ControlConnection = new ControlConnection(vmSocket, {
      onMessage: (m) => void toHostd.send(m),
      onClose: () => toHostd.close(),
    });
    const toHostd: ControlConnection = new ControlConnection(hostdSocket, {
      onMessage: (m) => {
        if (held === undefined && !raced && m.kind === 'handshake') {
          if (peekControl(m.message)?.type === MessageType.m4) held = [];
        }
        if (held === undefined) return void toVm.send(m);
        held.push(m);
        const sawRevoke = held.some((h) => h.kind === 'revoke');
        const sawAbort = held.some(
          (h) => h.kind === 'handshake' && peekControl(h.message)?.type === MessageType.abort,
        );
        if (!sawRevoke || !sawAbort) return;
        // One turn, so one write (ControlConnection corks a turn's frames): one read at the VM.
        for (const h of held) toVm.send(h);
        held = undefined;
        raced = true;
      },
      onClose: () => toVm.close(),
    });
  });
  server.listen(path.join(proxyDir, `${vm}.sock`));
  return server;
}

describe('Node: a handshake aborted after M4, with the REVOKE in the same read', function () {
  this.timeout(60_000);
  const rig = setUpEachTest({
    hostdArgs: ['--handshake-deadline-ms', String(DEADLINE_MS)],
    provider: true,
  });
  let proxyDir: string | undefined;
  let proxy: net.Server | undefined;

  // Registered after the rig's hooks, so these run after its setup and after its teardown
  // (which closes the Node first: the proxy then holds no connection and closes at once).
  beforeEach(() => {
    proxyDir = mkdtempSync(path.join(tmpdir(), 'sivshm-abort-race-'));
    proxy = raceProxy(rig.d.runDir, proxyDir, 'cluster');
  });

  afterEach(async () => {
    await new Promise((resolve) => (proxy === undefined ? resolve(0) : proxy.close(resolve)));
    proxy = undefined;
    if (proxyDir !== undefined) rmSync(proxyDir, { recursive: true, force: true });
    proxyDir = undefined;
  });

  it('should never map the revoked window, ack the revoke with a receipt, and connect on retry', async () => {
    const node = await rig.openNode({ runDir: proxyDir! });
    const speed = await node.consume('VehicleSpeed', { instance: 1, timeoutMs: 30_000 });
    const h = rig.hostd;
    const events = (name: string) => h.logs.filter((l) => l['event'] === name);
    // The held handshake was aborted with its grant out, so its window was quarantined...
    const aborted = events('channel-aborted');
    expect(aborted.length, 'aborted handshakes').to.be.at.least(1);
    expect(aborted[0]!['reason']).to.match(/handshake deadline passed/);
    expect(events('channel-quarantined').length).to.be.at.least(1);
    // ...and released by this VM's acknowledgement, whose receipt the device wrote only once
    // nothing of the channel was mapped.
    await waitFor(() => events('quarantine-released').length >= 1, 'the quarantine released');
    const s = await readStatus(rig.d);
    const cluster = (s.vms as { name: string; revokeReceiptsRefused: number }[]).find(
      (v) => v.name === 'cluster',
    );
    expect(cluster?.revokeReceiptsRefused).to.equal(0);
    // The channel in use is the retry's, not the revoked handshake's, and it works.
    expect(speed.status).to.equal('connected');
    expect(`0x${speed.channelId!.toString(16).padStart(16, '0')}`).not.to.equal(
      aborted[0]!['channel'],
    );
    const r = await speed.call<{ odometer_m: number }, { previous_odometer_m: unknown }>('reset', {
      odometer_m: 7,
    });
    expect(r).to.have.property('previous_odometer_m');
  });
});
