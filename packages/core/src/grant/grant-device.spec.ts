// Grants of `isolation: device` channels (docs/protocol.md §10): the target byte and the
// checks against the header of the channel device bound to the channel.
import { expect } from 'chai';
import { channelDeviceHeader } from '@sivshm/testing';
import { GrantPerm, windowLayout, type ChannelDeviceHeader } from '@sivshm/abi';
import { nodeBackend } from '../crypto/node-backend.js';
import { decodeGrant, encodeGrant, type GrantToken } from './grant-token.js';
import { signGrant, verifyGrant, type GrantCheckContext } from './grant-verify.js';
import { SerialWindow } from './serial-window.js';

const KEY = new Uint8Array(32).fill(7);
const KN = new Uint8Array(16).fill(3);
const WINDOW = windowLayout(4096).windowLength(16384);
const CHANNEL = 0xabcdef01n;

const header: ChannelDeviceHeader = channelDeviceHeader({
  deviceSize: 128 * 1024,
  epoch: 9n,
  channelId: CHANNEL,
  windowLength: WINDOW,
  ringDataSize: 16384,
});

const token = (over: Partial<GrantToken> = {}): GrantToken => ({
  role: 'consumer',
  perms: GrantPerm.map,
  epoch: 9n,
  grantSerial: 5n,
  vmId: 2,
  channelId: CHANNEL,
  windowOffset: 4096n,
  windowLength: BigInt(WINDOW),
  kn: KN,
  notAfterNs: 2_000_000_000_000_000_000n,
  mode: 'plain',
  target: 'device',
  ...over,
});

function context(device: ChannelDeviceHeader | undefined, vmId = 2): GrantCheckContext {
  return {
    vmId,
    epoch: 9n,
    kn: KN,
    nowNs: 1_000_000_000_000_000_000n,
    // a region whose data section the device window (offset 4096) is not in
    region: { size: 1n << 22n, dataOffset: 1n << 16n, dataSize: (1n << 22n) - (1n << 16n) },
    serials: new SerialWindow(),
    channelDevice: (id) => (device !== undefined && id === device.channelId ? device : undefined),
  };
}

function verify(t: GrantToken, ctx: GrantCheckContext) {
  const s = signGrant(nodeBackend, KEY, t);
  return verifyGrant(nodeBackend, KEY, s.token, s.tag, ctx);
}

describe('device grants (target byte 81)', () => {
  it('should write target 1 for a device grant and 0 for every region grant', () => {
    expect(encodeGrant(token())[81]).to.equal(1);
    const region = encodeGrant(token({ target: 'region', windowOffset: 1n << 16n }));
    expect(region[81]).to.equal(0);
    const decoded = decodeGrant(region);
    expect(decoded.ok && decoded.token).not.to.have.property('target');
    const device = decodeGrant(encodeGrant(token()));
    expect(device.ok && device.token.target).to.equal('device');
  });

  it('should read an unknown target as non-zero padding, like a reader that predates it', () => {
    const bytes = encodeGrant(token());
    bytes[81] = 2;
    expect(decodeGrant(bytes)).to.deep.equal({ ok: false, reason: 'pad' });
    const pad = encodeGrant(token());
    pad[82] = 1;
    expect(decodeGrant(pad)).to.deep.equal({ ok: false, reason: 'pad' });
  });

  it('should accept a device grant against the header of the device bound to its channel', () => {
    const v = verify(token(), context(header));
    expect(v.ok).to.equal(true);
    const provider = verify(token({ role: 'provider', vmId: 1 }), context(header, 1));
    expect(provider.ok).to.equal(true);
  });

  it('should refuse nodev when no device is bound to the channel, without burning the serial', () => {
    const ctx = context(undefined);
    expect(verify(token(), ctx)).to.deep.equal({ ok: false, reason: 'nodev' });
    expect(ctx.serials.isFresh(5n)).to.equal(true);
    const other = context({ ...header, channelId: CHANNEL + 1n });
    expect(verify(token(), other)).to.deep.equal({ ok: false, reason: 'nodev' });
  });

  it("should refuse window when the header's epoch, window or pair differs from the token", () => {
    const cases: [string, ChannelDeviceHeader, Partial<GrantToken>][] = [
      ['epoch', { ...header, epoch: 8n }, {}],
      ['window offset', header, { windowOffset: 8192n }],
      ['window length', header, { windowLength: BigInt(windowLayout(4096).windowLength(4096)) }],
      ['consumer is not the header consumer', { ...header, consumerVm: 3 }, {}],
      ['provider grant for the consumer VM', header, { role: 'provider' }],
    ];
    for (const [name, h, over] of cases) {
      expect(verify(token(over), context(h)), name).to.deep.equal({ ok: false, reason: 'window' });
    }
  });

  it('should still hold a region grant to the data section when devices are bound', () => {
    const region = token({ target: 'region' });
    expect(verify(region, context(header))).to.deep.equal({ ok: false, reason: 'window' });
  });
});
