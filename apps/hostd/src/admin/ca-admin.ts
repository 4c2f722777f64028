import {
  decodeCertificateBody,
  type BrokerHandshakes,
  type CertificateAuthority,
} from '@sivshm/core';
import type { BrokerRouter } from '../broker/broker-router.js';
import type { JsonLogger } from '../log/logger.js';
import type { VmRegistry } from '../vms/vm-registry.js';

/** What `sivshm ca revoke` gets back from a running hostd. */
export interface CaRevokeResult {
  readonly serial: string;
  readonly alreadyRevoked: boolean;
  /** Active channels of the certificate that hostd started tearing down (REVOKE to both ends). */
  readonly channelsClosed: number;
}

/** What `sivshm ca list` gets back from a running hostd. */
export interface CaListResult {
  readonly epoch: string;
  /** Serials 1..nextSerial-1 were issued (the broker's own certificate among them). */
  readonly nextSerial: string;
  readonly brokerSerial: string;
  readonly revoked: readonly string[];
  /** The certificate each connected VM enrolled on its current link. */
  readonly enrolled: readonly { vm: number; name: string; serial: string; subject: string }[];
}

/** A refusal to pass back to the CLI as one line. */
export class CaAdminRefusal extends Error {}

/**
 * The CA changes hostd makes for `sivshm ca` while it runs (it holds the CA directory's lock):
 * a revocation is persisted first, then takes effect at once — the certificate's live channels
 * are torn down through the REVOKE/receipt path, and its future M1/M3 are refused because every
 * lookup checks the revocation list.
 */
export class CaAdmin {
  constructor(
    private readonly o: {
      readonly ca: CertificateAuthority;
      /** Persists the CA state (chained after any save in flight). */
      readonly save: () => Promise<void>;
      readonly broker: BrokerHandshakes;
      readonly router: BrokerRouter;
      readonly vms: VmRegistry;
      readonly log: JsonLogger;
    },
  ) {}

  async revoke(serial: bigint): Promise<CaRevokeResult> {
    const { ca, broker, router, log } = this.o;
    const brokerSerial = decodeCertificateBody(ca.brokerCertificate.tbs).serial;
    if (serial < 1n || serial >= ca.serialHighWater) {
      throw new CaAdminRefusal(
        `serial ${serial} was never issued by this CA (its serials so far are 1..${ca.serialHighWater - 1n})`,
      );
    }
    if (serial === brokerSerial) {
      throw new CaAdminRefusal(`serial ${serial} is hostd's own broker certificate`);
    }
    const alreadyRevoked = ca.isRevoked(serial);
    ca.revoke(serial);
    // On disk before it is acted on: a restart keeps refusing the certificate.
    await this.o.save();
    // Certificates are link-bound (M1 and M3 name the one enrolled on the sender's current link,
    // one enrolment per link, and a link's end closes its channels): the active channels of a
    // VM whose current certificate this is are exactly the ones made with it.
    const holders = new Set<number>();
    for (const v of this.o.vms.all()) if (v.certificate?.serial === serial) holders.add(v.id);
    let channelsClosed = 0;
    for (const c of broker.activeChannels()) {
      if (!holders.has(c.consumerVm) && !holders.has(c.providerVm)) continue;
      router.route(broker.closeChannel(c.channelId, 'certificate-revoked'));
      channelsClosed++;
    }
    log.warn('certificate-revoked', { serial: serial.toString(), channelsClosed, alreadyRevoked });
    return { serial: serial.toString(), alreadyRevoked, channelsClosed };
  }

  list(): CaListResult {
    const { ca, vms } = this.o;
    const enrolled: { vm: number; name: string; serial: string; subject: string }[] = [];
    for (const v of vms.all()) {
      if (v.certificate === undefined) continue;
      enrolled.push({
        vm: v.id,
        name: v.name,
        serial: v.certificate.serial.toString(),
        subject: v.certificate.subject,
      });
    }
    return {
      epoch: ca.epoch.toString(),
      nextSerial: ca.serialHighWater.toString(),
      brokerSerial: decodeCertificateBody(ca.brokerCertificate.tbs).serial.toString(),
      revoked: ca.revokedSerials().map(String),
      enrolled,
    };
  }
}
