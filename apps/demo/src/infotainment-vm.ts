// The infotainment VM of the foundation demo, a separate OS process: it enrols with its own
// key (CSR with proof of possession), answers the handshake as provider, presents its grant to
// its own device, and publishes VehicleSpeed events at 100 Hz into the channel's p2c ring.
import {
  createCsr,
  cryptoBackend,
  loadConfig,
  ProviderHandshakes,
  type Certificate,
  type ChannelGrant,
  type EndpointIdentity,
} from '@sivshm/core';
import { WindowLayout } from '@sivshm/kmod';
import {
  EmulatedDevice,
  RingProducer,
  ringViews,
  type DeviceFile,
} from '@sivshm/transport-ivshmem';
import {
  hex,
  unhex,
  type AttachMessage,
  type HostToVm,
  type VmToHost,
} from './control-messages.js';

const crypto = cryptoBackend();
const send = (m: VmToHost): void => {
  process.send?.(m);
};

let attach: AttachMessage | undefined;
let config: Awaited<ReturnType<typeof loadConfig>> | undefined;
let device: EmulatedDevice | undefined;
let provider: ProviderHandshakes | undefined;
const secretKey = crypto.ed25519GenerateSecretKey(); // never leaves this process
const files = new Map<bigint, DeviceFile>();
let timer: NodeJS.Timeout | undefined;
let sent = 0;

async function onAttach(m: AttachMessage): Promise<void> {
  attach = m;
  device = new EmulatedDevice({
    regionPath: m.regionPath,
    vmId: m.vmId,
    grantKey: unhex(m.grantKey),
    crypto,
  });
  config = await loadConfig(m.configPath);
  const offers = config.services
    .filter((s) => s.providerVmId === m.vmId)
    .flatMap((s) => s.instances.map((i) => ({ service: s.id, instanceLo: i, instanceHi: i })));
  send({
    type: 'csr',
    csr: hex(
      createCsr(crypto, secretKey, {
        subject: 'infotainment',
        nonce: unhex(m.enrolmentNonce),
        rights: { offers, requests: [] },
      }),
    ),
  });
}

function onCertificate(cert: Certificate, config: Awaited<ReturnType<typeof loadConfig>>): void {
  const a = attach!;
  const identity: EndpointIdentity = { vmId: a.vmId, secretKey, certificate: cert };
  provider = new ProviderHandshakes({
    crypto,
    identity,
    trust: {
      caPublicKey: unhex(a.caPublicKey),
      brokerCertificate: {
        tbs: unhex(a.brokerCertificate.tbs),
        sig: unhex(a.brokerCertificate.sig),
      },
      epoch: BigInt(a.epoch),
    },
    nowMs: () => BigInt(Date.now()),
    policy: {
      offeredMajor: (svc) =>
        config.services.find((s) => s.id === svc && s.providerVmId === a.vmId)?.major,
      minMode: (svc) => config.services.find((s) => s.id === svc)?.minMode ?? 'plain',
    },
    deviceNonce: (channelId) => {
      const f = device!.open();
      files.set(channelId, f);
      return f.nonce;
    },
  });
}

function startPublishing(
  grant: ChannelGrant,
  config: Awaited<ReturnType<typeof loadConfig>>,
): void {
  const file = files.get(grant.channelId)!;
  file.presentGrant(grant.grantToken, grant.grantTag);
  const window = file.mapWindow(grant.channelId);
  const dataSize = WindowLayout.dataSizeOf(Number(grant.windowLength))!;
  const producer = new RingProducer(ringViews(window, 'p2c', dataSize));
  const VehicleSpeed = config.protoRoot.lookupType('sivshm.demo.VehicleSpeed');
  const t0 = Date.now();
  let odometer = 12_345_000;
  send({ type: 'publishing', channelId: grant.channelId.toString() });
  timer = setInterval(() => {
    const t = Date.now() - t0;
    const kph = 50 + 40 * Math.sin(t / 3000);
    odometer += Math.round((kph / 3.6) * 10) / 1000;
    const payload = VehicleSpeed.encode({
      // Field names keep their .proto spelling (loadConfig parses with keepCase).
      timestamp_ms: t,
      kph,
      odometer_m: Math.round(odometer),
      gear: 4,
    }).finish();
    const ok = producer.trySend(
      {
        service: grant.service,
        method: 0x8001,
        client: 0,
        session: (sent + 1) & 0xffff,
        interfaceVersion: grant.major,
        messageType: 0x02,
        returnCode: 0,
      },
      payload,
    );
    if (ok) sent++;
  }, 10);
}

process.on('message', (raw) => {
  const m = raw as HostToVm;
  void (async () => {
    try {
      if (m.type === 'attach') await onAttach(m);
      else if (m.type === 'certificate')
        onCertificate({ tbs: unhex(m.tbs), sig: unhex(m.sig) }, config!);
      else if (m.type === 'handshake') {
        for (const e of provider!.receive(unhex(m.bytes))) {
          if (e.kind === 'send') send({ type: 'handshake', bytes: hex(e.bytes) });
          else if (e.kind === 'granted') startPublishing(e.grant, config!);
          else send({ type: 'error', message: `handshake aborted: ${e.reason} ${e.detail}` });
        }
      } else if (m.type === 'revoke') {
        // Stop writing first: after the revoke the old mapping faults on access.
        if (timer !== undefined) clearInterval(timer);
        device?.revoke(unhex(m.token), unhex(m.tag));
      } else if (m.type === 'stop') {
        if (timer !== undefined) clearInterval(timer);
        device?.close();
        send({ type: 'stopped', sent });
        process.disconnect();
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error).message });
    }
  })();
});
