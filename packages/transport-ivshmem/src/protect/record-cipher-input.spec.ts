import { expect } from 'chai';
import { cryptoBackend } from '@sivshm/core';
import { TransportError } from '../errors/transport-error.js';
import type { SomeIpHeader } from '../ring/someip-header.js';
import { jsRecordCrypto } from './js-record-cipher.js';
import { nativeRecordCrypto } from './native-record-crypto.js';
import type { RecordCryptoBackend } from './record-crypto.js';

const header: SomeIpHeader = {
  service: 0x1234,
  method: 0x8001,
  client: 0,
  session: 1,
  interfaceVersion: 1,
  messageType: 0x02,
  returnCode: 0,
};
const base = { mode: 'aead', channelId: 7n, direction: 'c2p' } as const;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).to.be.instanceOf(TransportError);
    return (e as TransportError).code;
  }
  return undefined;
}

describe('record ciphers: bad input gets a typed error', () => {
  const backends: RecordCryptoBackend[] = [
    nativeRecordCrypto,
    jsRecordCrypto(cryptoBackend('node')),
    jsRecordCrypto(cryptoBackend('noble')),
  ];
  for (const crypto of backends) {
    it(`${crypto.name}: should refuse a key that is not 32 bytes (ERR_BAD_ARGUMENT), a record of the wrong size, and any use after dispose (ERR_CLOSED)`, () => {
      for (const length of [0, 16, 31, 33]) {
        expect(
          codeOf(() => crypto.cipher({ ...base, key: new Uint8Array(length) })),
          `${length}-byte key`,
        ).to.equal('ERR_BAD_ARGUMENT');
      }
      const c = crypto.cipher({ ...base, key: new Uint8Array(32).fill(1) });
      if (crypto.name !== 'native') {
        // The addon's own argument errors are covered by native-record-crypto.spec.ts.
        const plain = new Uint8Array(4);
        expect(codeOf(() => c.seal(1, header, plain, new Uint8Array(27)))).to.equal(
          'ERR_BAD_ARGUMENT',
        );
        const out = new Uint8Array(64);
        expect(codeOf(() => c.open(1, header, new Uint8Array(23), out))).to.equal(
          'ERR_BAD_ARGUMENT',
        );
        expect(codeOf(() => c.open(1, header, new Uint8Array(30), new Uint8Array(29)))).to.equal(
          'ERR_BAD_ARGUMENT',
        );
      }
      const record = new Uint8Array(28);
      c.seal(1, header, new Uint8Array(4), record);
      c.dispose();
      expect(codeOf(() => c.seal(2, header, new Uint8Array(4), new Uint8Array(28)))).to.equal(
        'ERR_CLOSED',
      );
      expect(codeOf(() => c.open(1, header, record, new Uint8Array(28)))).to.equal('ERR_CLOSED');
    });
  }
});
