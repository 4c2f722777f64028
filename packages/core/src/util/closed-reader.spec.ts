import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { onReaderGone } from './closed-reader.js';

const failure = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`write ${code}`), { code });

describe('onReaderGone (closed pipe: | head)', () => {
  it('should call back once, on the first EPIPE, and ignore the writes that fail after it', () => {
    const stream = new PassThrough();
    let calls = 0;
    onReaderGone(stream, () => calls++);
    stream.emit('error', failure('EPIPE'));
    stream.emit('error', failure('EPIPE'));
    expect(calls).to.equal(1);
  });

  it('should rethrow any other error of the stream', () => {
    const stream = new PassThrough();
    let calls = 0;
    onReaderGone(stream, () => calls++);
    expect(() => stream.emit('error', failure('ENOSPC'))).to.throw('write ENOSPC');
    expect(calls).to.equal(0);
  });
});
