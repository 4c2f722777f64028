import { expect } from 'chai';
import { parseConfig, type CertificateBody } from '@sivshm/core';
import {
  decodeSdMessage,
  encodeSdMessage,
  endpointOption,
  packSdMessage,
  type PackEntry,
  type SdMessage,
} from '@sivshm/discovery';
import { JsonLogger } from '../log/logger.js';
import { SdSwitch } from './sd-switch.js';

const CONFIG = `version: 1
region: { size: 1MiB, path: /dev/shm/unused, channelCapacity: 8 }
vms:
  - { id: 1, name: p, grantKey: { hex: ${'11'.repeat(32)} } }
  - { id: 2, name: c, grantKey: { hex: ${'22'.repeat(32)} } }
  - { id: 3, name: x, grantKey: { hex: ${'33'.repeat(32)} } }
services:
  - { name: S, id: 0x1234, instances: [1], major: 1, minor: 0, provider: p, consumers: [c] }
`;

const ALL_RIGHTS = {
  offers: [{ service: 0x1234, instanceLo: 1, instanceHi: 1 }],
  requests: [{ service: 0x1234, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe }],
};

function rig() {
  const config = parseConfig(CONFIG, { file: 'services.yaml', baseDir: '/' });
  const sent = new Map<number, SdMessage[]>();
  const refused: [number, string][] = [];
  const gone: string[] = [];
  const offered: string[] = [];
  const rebooted: number[] = [];
  const certs = new Map<number, CertificateBody>();
  const sw = new SdSwitch({
    config,
    log: new JsonLogger('error', () => undefined),
    certificate: (vm) => certs.get(vm),
    connected: () => true,
    sendSd: (vm, bytes) => void sent.set(vm, [...(sent.get(vm) ?? []), decodeSdMessage(bytes)]),
    refuse: (vm, _code, message) => void refused.push([vm, message]),
    serviceOffered: (vm, service, instance, major) =>
      void offered.push(`${vm}:${service}:${instance}:${major}`),
    serviceGone: (vm, service, instance, why) =>
      void gone.push(`${vm}:${service}:${instance}:${why}`),
    vmRebooted: (vm) => void rebooted.push(vm),
  });
  const enrol = (vm: number): void =>
    void certs.set(vm, { rights: ALL_RIGHTS } as unknown as CertificateBody);
  const sessions = new Map<number, number>();
  const from = (vm: number, entries: PackEntry[], reboot = true): void => {
    const sessionId = (sessions.get(vm) ?? 0) + 1;
    sessions.set(vm, sessionId);
    const msg = packSdMessage({
      sessionId,
      flags: { reboot, unicast: true, explicitInitialDataControl: false },
      entries,
    });
    sw.receive(vm, encodeSdMessage(msg));
  };
  const offer = (ttl = 5): PackEntry => ({
    entry: {
      type: ttl === 0 ? 'stopOffer' : 'offer',
      serviceId: 0x1234,
      instanceId: 1,
      majorVersion: 1,
      minorVersion: 0,
      ttl,
    },
    options: [endpointOption('127.0.0.1', 'udp', 30_501)],
  });
  const entries = (vm: number) => (sent.get(vm) ?? []).flatMap((m) => m.entries);
  return { sw, sent, refused, gone, offered, rebooted, enrol, from, offer, entries, sessions };
}

describe('SdSwitch', () => {
  describe('.receive', () => {
    it('should register an allowed offer and relay it to enrolled consumers only', () => {
      const r = rig();
      [1, 2, 3].forEach(r.enrol);
      r.from(1, [r.offer()]);
      expect(r.sw.offered(0x1234, 1)).to.include({ providerVm: 1, major: 1 });
      expect(r.entries(2).map((e) => e.type)).to.deep.equal(['offer']);
      expect(r.entries(3)).to.have.length(0);
      expect(r.sw.stats.relayed).to.equal(1);
      r.sw.close();
    });

    it('should relay a batch of 64 Offers as one message, and 64 Subscribes and their Acks as one message each', () => {
      const config = parseConfig(
        CONFIG.replace(
          'instances: [1]',
          `instances: [${Array.from({ length: 64 }, (_, i) => i + 1).join(', ')}]`,
        ),
        { file: 'services.yaml', baseDir: '/' },
      );
      const sent = new Map<number, SdMessage[]>();
      const lines: Record<string, unknown>[] = [];
      const rights = {
        offers: [{ service: 0x1234, instanceLo: 1, instanceHi: 64 }],
        requests: [
          { service: 0x1234, instanceLo: 1, instanceHi: 64, methodLo: 1, methodHi: 0xfffe },
        ],
      };
      const sw = new SdSwitch({
        config,
        log: new JsonLogger(
          'info',
          (l) => void lines.push(JSON.parse(l) as Record<string, unknown>),
        ),
        certificate: () => ({ rights }) as unknown as CertificateBody,
        connected: () => true,
        sendSd: (vm, bytes) => void sent.set(vm, [...(sent.get(vm) ?? []), decodeSdMessage(bytes)]),
        refuse: () => undefined,
        serviceOffered: () => undefined,
        serviceGone: () => undefined,
        vmRebooted: () => undefined,
      });
      const ids = Array.from({ length: 64 }, (_, i) => i + 1);
      const msg = (sessionId: number, entries: PackEntry[]): Uint8Array =>
        encodeSdMessage(
          packSdMessage({
            sessionId,
            flags: { reboot: true, unicast: true, explicitInitialDataControl: false },
            entries,
          }),
        );
      const fields = { serviceId: 0x1234, majorVersion: 1 } as const;
      sw.receive(
        1,
        msg(
          1,
          ids.map((instanceId) => ({
            entry: { ...fields, type: 'offer', instanceId, minorVersion: 0, ttl: 3 },
            options: [endpointOption('127.0.0.1', 'udp', 30_501)],
          })),
        ),
      );
      const group = (type: 'subscribe' | 'subscribeAck', instanceId: number): PackEntry => ({
        entry: {
          ...fields,
          type,
          instanceId,
          ttl: 3,
          counter: 0,
          eventgroupId: 1,
          initialDataRequested: false,
        },
        options: type === 'subscribe' ? [endpointOption('127.0.0.1', 'udp', 30_602)] : [],
      });
      sw.receive(
        2,
        msg(
          1,
          ids.map((i) => group('subscribe', i)),
        ),
      );
      sw.receive(
        1,
        msg(
          2,
          ids.map((i) => group('subscribeAck', i)),
        ),
      );
      const toConsumer = sent.get(2) ?? [];
      const toProvider = sent.get(1) ?? [];
      expect(toConsumer.map((m) => m.entries.length)).to.deep.equal([64, 64]);
      expect(toConsumer[1]!.entries.every((e) => e.type === 'subscribeAck')).to.equal(true);
      expect(toProvider.map((m) => m.entries.length)).to.deep.equal([64]);
      expect(sw.stats.relayed).to.equal(3);
      // One log line for the batch, not 64 (a VM's start-up must not spend its log budget).
      const offers = lines.filter((l) => l['event'] === 'sd-offer');
      expect(offers).to.have.length(1);
      expect(offers[0]).to.include({ vm: 1, count: 64, instances: '0x1234:1-64' });
      sw.close();
    });

    it('should tell hostd of an instance on offer once, and again only when its terms change', () => {
      const r = rig();
      [1, 2].forEach(r.enrol);
      r.from(1, [r.offer()]);
      r.from(1, [r.offer()]); // the cyclic repetition changes nothing
      expect(r.offered).to.deep.equal([`1:${0x1234}:1:1`]);
      r.sw.close();
    });

    it('should refuse an offer from a VM that is not the configured provider or not enrolled', () => {
      const r = rig();
      r.enrol(3);
      r.from(3, [r.offer()]);
      r.from(1, [r.offer()]); // provider, but no certificate yet
      expect(r.refused.map(([vm]) => vm)).to.deep.equal([3, 1]);
      expect(r.refused[1]![1]).to.match(/not enrolled/);
      expect(r.sw.offered(0x1234, 1)).to.equal(undefined);
      r.sw.close();
    });

    it('should answer a Find only for services the finder may consume', () => {
      const r = rig();
      [1, 2, 3].forEach(r.enrol);
      r.from(1, [r.offer()]);
      const find: PackEntry = {
        entry: {
          type: 'find',
          serviceId: 0x1234,
          instanceId: 0xffff,
          majorVersion: 0xff,
          minorVersion: 0xffff_ffff,
          ttl: 3,
        },
      };
      r.from(2, [find]);
      r.from(3, [find]);
      expect(r.entries(2).filter((e) => e.type === 'offer')).to.have.length(2);
      expect(r.entries(3)).to.have.length(0);
      expect(r.sw.stats.findsAnswered).to.equal(1);
      r.sw.close();
    });

    it('should report a StopOffer as the service going away and relay it', () => {
      const r = rig();
      [1, 2].forEach(r.enrol);
      r.from(1, [r.offer()]);
      r.from(1, [r.offer(0)]);
      expect(r.gone).to.deep.equal([`1:${0x1234}:1:stopOffer`]);
      expect(r.entries(2).map((e) => e.type)).to.deep.equal(['offer', 'stopOffer']);
      r.sw.close();
    });

    it('should detect a reboot from a session restart with the reboot flag', () => {
      const r = rig();
      [1, 2].forEach(r.enrol);
      r.from(1, [r.offer()]);
      r.from(1, [r.offer()]);
      r.sessions.set(1, 0); // the VM starts over at session 1 with the reboot flag
      r.from(1, [r.offer()]);
      expect(r.rebooted).to.deep.equal([1]);
      expect(r.gone).to.deep.equal([`1:${0x1234}:1:peerRebooted`]);
      expect(r.sw.offered(0x1234, 1)).to.include({ providerVm: 1 }); // the new offer stands
      r.sw.close();
    });

    it('should refuse bytes that are not an SD message', () => {
      const r = rig();
      r.sw.receive(2, Uint8Array.of(1, 2, 3));
      expect(r.sw.stats.malformed).to.equal(1);
      expect(r.refused).to.have.length(1);
      r.sw.close();
    });
  });

  describe('.announceTo', () => {
    it('should tell a newly enrolled consumer about what is on offer', () => {
      const r = rig();
      r.enrol(1);
      r.from(1, [r.offer()]);
      expect(r.entries(2)).to.have.length(0);
      r.enrol(2);
      r.sw.announceTo(2);
      expect(r.entries(2).map((e) => e.type)).to.deep.equal(['offer']);
      r.sw.close();
    });
  });
});
