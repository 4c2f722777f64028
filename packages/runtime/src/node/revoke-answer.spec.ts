import { expect } from 'chai';
import { TransportError } from '@sivshm/transport-ivshmem';
import { answerRevoke } from './revoke-answer.js';

describe('answerRevoke', () => {
  const token = new Uint8Array(40).fill(1);
  const tag = new Uint8Array(32).fill(2);

  it("should acknowledge a revoke the device applied, forwarding the device's receipt", () => {
    const receipt = new Uint8Array(32).fill(7);
    const device = { revoke: () => ({ channelId: 9n, receipt }) };
    expect(answerRevoke(device, 9n, token, tag)).to.deep.equal({
      ack: { kind: 'revokeAck', channelId: 9n, receipt },
    });
  });

  it('should never acknowledge a revoke the device refused', () => {
    const device = {
      revoke: (): never => {
        throw new TransportError('ERR_GRANT', 'revoke refused: tag');
      },
    };
    const answer = answerRevoke(device, 9n, token, tag);
    expect(answer).to.not.have.property('ack');
    expect(answer).to.deep.equal({ error: 'revoke refused: tag' });
  });
});
