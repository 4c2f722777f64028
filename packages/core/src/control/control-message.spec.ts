import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { CoreError } from '../errors/core-error.js';
import {
  decodeControlMessage,
  encodeControlMessage,
  type ControlMessage,
} from './control-message.js';

const b = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

const samples: ControlMessage[] = [
  { kind: 'hello', version: 1, software: 'test/1' },
  {
    kind: 'attach',
    vmId: 2,
    vmName: 'cluster',
    epoch: 7n,
    caPublicKey: b(32, 1),
    brokerCertificate: { tbs: b(90, 2), sig: b(64, 3) },
    region: {
      path: '/dev/shm/x',
      size: 16n << 20n,
      dataOffset: 0x10000n,
      dataSize: (16n << 20n) - 0x10000n,
      channelCapacity: 64,
    },
    grantKey: b(32, 4),
    ivshmemSocket: '/run/sivshm/ivshmem.sock',
    enrolmentNonce: b(32, 5),
  },
  { kind: 'csr', csr: b(150, 6) },
  { kind: 'certificate', certificate: { tbs: b(120, 7), sig: b(64, 8) } },
  { kind: 'sd', message: b(40, 9) },
  { kind: 'handshake', message: b(300, 10) },
  { kind: 'handshake', message: b(30, 10), peerDoorbell: 0 },
  { kind: 'handshake', message: b(30, 10), peerDoorbell: 0xffff },
  {
    kind: 'handshake',
    message: b(30, 10),
    peerDoorbell: 1,
    channelDevice: '/run/sivshm/devices/00000000000000ab.chan',
  },
  { kind: 'doorbellId', id: 3 },
  { kind: 'revoke', channelId: 0xffff_ffff_ffff_fff0n, token: b(40, 11), tag: b(32, 12) },
  { kind: 'close', channelId: 42n },
  { kind: 'revokeAck', channelId: 44n, receipt: new Uint8Array(32).fill(9) },
  { kind: 'revokeAck', channelId: 45n, receipt: new Uint8Array(0) },
  { kind: 'peerGone', channelId: 43n, reason: 'vm-died' },
  { kind: 'heartbeat', sequence: 9n, timeMs: 1_700_000_000_000n },
  { kind: 'error', code: 'ERR_SD_POLICY', message: 'not allowed' },
  {
    kind: 'resize',
    channelId: 46n,
    successorId: 0xffff_ffff_ffff_fff1n,
    grantToken: b(104, 13),
    grantTag: b(32, 14),
    timeoutMs: 2000,
  },
  { kind: 'resized', channelId: 46n, successorId: 47n },
];

describe('ControlMessage', () => {
  describe('encodeControlMessage / decodeControlMessage', () => {
    for (const m of samples) {
      const extra =
        ('peerDoorbell' in m ? ` with peer doorbell ${m.peerDoorbell}` : '') +
        ('channelDevice' in m ? ' and a channel device path' : '');
      it(`should round-trip a ${m.kind} message${extra}`, () => {
        expect(decodeControlMessage(encodeControlMessage(m))).to.deep.equal(m);
      });
    }

    it('should omit the grant key of an attach sent in qemu mode', () => {
      const { grantKey: _drop, ...qemu } = samples[1] as Extract<
        ControlMessage,
        { kind: 'attach' }
      >;
      const back = decodeControlMessage(encodeControlMessage(qemu));
      expect(back).to.deep.equal(qemu);
      expect(back).to.not.have.property('grantKey');
    });

    it('should pin the bytes of a close message (field 8, channel id varint)', () => {
      expect(
        Buffer.from(encodeControlMessage({ kind: 'close', channelId: 1n })).toString('hex'),
      ).to.equal('42020801');
    });
  });

  describe('decodeControlMessage', () => {
    it('should refuse an empty message (no kind)', () => {
      expect(() => decodeControlMessage(new Uint8Array(0)))
        .to.throw(CoreError)
        .with.property('code', 'ERR_DECODE');
    });

    it('should refuse bytes that are not protobuf', () => {
      expect(() =>
        decodeControlMessage(Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f)),
      ).to.throw(CoreError);
    });

    it('should refuse a message over the frame limit before decoding it', () => {
      expect(() => decodeControlMessage(new Uint8Array(64 * 1024 + 1))).to.throw(/over the limit/);
    });

    it('should refuse an attach whose nonce is not 32 bytes', () => {
      const a = samples[1] as Extract<ControlMessage, { kind: 'attach' }>;
      const bad = encodeControlMessage({ ...a, enrolmentNonce: b(31, 1) });
      expect(() => decodeControlMessage(bad)).to.throw(/enrolment nonce is 31 bytes/);
    });

    it('should refuse a revoke whose tag is not 32 bytes', () => {
      const bad = encodeControlMessage({
        kind: 'revoke',
        channelId: 1n,
        token: b(4, 1),
        tag: b(16, 1),
      });
      expect(() => decodeControlMessage(bad)).to.throw(/revoke tag/);
    });

    it('should keep "no peer doorbell" apart from peer doorbell 0', () => {
      const none = decodeControlMessage(
        encodeControlMessage({ kind: 'handshake', message: b(4, 1) }),
      );
      expect(none).to.not.have.property('peerDoorbell');
    });

    it('should refuse an empty channel device path', () => {
      const w = protobuf.Writer.create();
      w.uint32((6 << 3) | 2)
        .fork()
        .uint32((1 << 3) | 2)
        .bytes(b(4, 1))
        .uint32((3 << 3) | 2)
        .string('')
        .ldelim();
      expect(() => decodeControlMessage(w.finish())).to.throw(/channel device path is empty/);
    });

    it('should refuse a doorbell id that is not a 16-bit ivshmem peer id', () => {
      const w = protobuf.Writer.create();
      w.uint32((13 << 3) | 2)
        .fork()
        .uint32((1 << 3) | 0)
        .uint32(0x10000)
        .ldelim();
      expect(() => decodeControlMessage(w.finish())).to.throw(
        /not an ivshmem peer id \(0\.\.65535\)/,
      );
      expect(() => encodeControlMessage({ kind: 'doorbellId', id: -1 })).to.throw(CoreError);
    });

    it('should refuse an empty handshake or SD payload', () => {
      for (const kind of ['sd', 'handshake'] as const) {
        const bytes = encodeControlMessage({ kind, message: new Uint8Array(0) });
        expect(() => decodeControlMessage(bytes)).to.throw(/is empty/);
      }
    });

    it('should ignore fields it does not know (newer peer) but still need a known kind', () => {
      const w = protobuf.Writer.create();
      w.uint32((99 << 3) | 0).uint32(5);
      expect(() => decodeControlMessage(w.finish())).to.throw(/no known kind/);
    });

    it('should either decode arbitrary bytes or throw a CoreError (fuzz)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
          try {
            decodeControlMessage(bytes);
          } catch (e) {
            expect(CoreError.is(e), String(e)).to.equal(true);
          }
        }),
        { numRuns: 2000 },
      );
    });
  });
});
