import { expect } from 'chai';
import fc from 'fast-check';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { packageRoot } from '../util/package-root.js';
import { decodeHandshakeFrame, encodeHandshakeFrame } from './handshake-frame-codec.js';

// The reference: protobufjs with control.proto, as control-message.ts used it for every frame.
const controlType = protobuf
  .loadSync(join(packageRoot(import.meta.url), 'proto', 'control.proto'))
  .lookupType('sivshm.control.v1.ControlMessage');

function reference(message: Uint8Array, peerDoorbell?: number): Uint8Array {
  const handshake = peerDoorbell === undefined ? { message } : { message, peerDoorbell };
  return controlType.encode(controlType.fromObject({ handshake })).finish();
}

function referenceDecode(bytes: Uint8Array): { message: Uint8Array; peerDoorbell?: number } {
  const o = controlType.toObject(controlType.decode(bytes), {
    oneofs: true,
    bytes: Uint8Array as unknown as typeof String,
  }) as { handshake: { message?: Uint8Array; peerDoorbell?: number } };
  return {
    message: new Uint8Array(o.handshake.message ?? []),
    ...(o.handshake.peerDoorbell === undefined ? {} : { peerDoorbell: o.handshake.peerDoorbell }),
  };
}

const frames = fc.record({
  message: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
  peerDoorbell: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
});

describe('handshake frame codec (the control link fast path)', () => {
  it('should write the same bytes as protobufjs for every handshake frame (1 000 runs)', () => {
    fc.assert(
      fc.property(frames, ({ message, peerDoorbell }) => {
        const fast = encodeHandshakeFrame(message, peerDoorbell, undefined);
        expect(fast).to.deep.equal(new Uint8Array(reference(message, peerDoorbell)));
      }),
      { numRuns: 1000 },
    );
  });

  it('should read back what protobufjs reads from those bytes (1 000 runs)', () => {
    fc.assert(
      fc.property(frames, ({ message, peerDoorbell }) => {
        const bytes = reference(message, peerDoorbell);
        const fast = decodeHandshakeFrame(bytes);
        expect(fast).to.not.equal(undefined);
        const ref = referenceDecode(bytes);
        expect(fast!.message).to.deep.equal(ref.message);
        expect(fast!.peerDoorbell).to.equal(ref.peerDoorbell);
      }),
      { numRuns: 1000 },
    );
  });

  it('should leave every other shape to protobufjs (undefined)', () => {
    const m = new Uint8Array([8, 1, 18, 2, 9, 9]);
    const plain = reference(m, 3);
    // a channel device path, or a doorbell id that is not a uint32, is not written here
    expect(encodeHandshakeFrame(m, undefined, '/dev/shm/x')).to.equal(undefined);
    expect(encodeHandshakeFrame(m, -1, undefined)).to.equal(undefined);
    expect(encodeHandshakeFrame(m, 2 ** 32, undefined)).to.equal(undefined);
    // another kind, trailing or unknown fields, fields out of order, repeated, cut short
    expect(decodeHandshakeFrame(new Uint8Array([0x42, 0]))).to.equal(undefined);
    expect(decodeHandshakeFrame(new Uint8Array([...plain, 0x18, 1]))).to.equal(undefined);
    const inner = [0x10, 3, 0x0a, m.length, ...m];
    expect(decodeHandshakeFrame(new Uint8Array([0x32, inner.length, ...inner]))).to.equal(
      undefined,
    );
    const twice = [0x10, 3, 0x10, 4];
    expect(decodeHandshakeFrame(new Uint8Array([0x32, 4, ...twice]))).to.equal(undefined);
    expect(decodeHandshakeFrame(plain.subarray(0, plain.length - 1))).to.equal(undefined);
    // an unknown field inside the frame, a longer varint than needed
    const unknown = [0x0a, m.length, ...m, 0x1a, 1, 0x41];
    expect(decodeHandshakeFrame(new Uint8Array([0x32, unknown.length, ...unknown]))).to.equal(
      undefined,
    );
    expect(decodeHandshakeFrame(new Uint8Array([0x32, 3, 0x10, 0x83, 0x00]))).to.equal(undefined);
  });

  it('should copy the message out of the frame (the link reuses its read buffer)', () => {
    const bytes = reference(new Uint8Array([1, 2, 3]));
    const out = decodeHandshakeFrame(bytes)!;
    bytes.fill(0);
    expect([...out.message]).to.deep.equal([1, 2, 3]);
  });
});
