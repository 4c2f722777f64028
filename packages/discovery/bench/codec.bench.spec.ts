import { expect } from 'chai';
import { runCodecBench } from './codec.bench.js';

describe('runCodecBench', () => {
  describe('(shape of the report)', () => {
    it('should report every workload and operation with positive rates (no timing assertions)', () => {
      const rows = runCodecBench({ runs: 1, msPerRun: 10 });
      expect(rows.map((r) => `${r.workload}/${r.operation}`)).to.have.length(6);
      for (const r of rows) {
        expect(r.entriesPerSecond).to.be.greaterThan(0);
        expect(r.messagesPerSecond * r.entriesPerMessage).to.be.closeTo(
          r.entriesPerSecond,
          r.entriesPerMessage,
        );
        expect(r.runs).to.have.length(1);
      }
    });
  });
});
