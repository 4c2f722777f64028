// fast-check generators of valid SD messages (every sender rule kept), for property tests
// and for the tshark check.
import fc from 'fast-check';
import { formatIPv6 } from '../../src/wire/ip-address.js';
import type { SdOption } from '../../src/wire/option.js';
import type { EndpointOption } from '../../src/wire/endpoint-option.js';
import { packSdMessage, type PackEntry } from '../../src/wire/sd-packer.js';
import type { SdMessage } from '../../src/wire/sd-message.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const instance = fc.integer({ min: 0, max: 0xfffe });
const major = fc.integer({ min: 0, max: 0xfe });
const ttl = fc.integer({ min: 1, max: 0xffffff });
const minor = fc.integer({ min: 0, max: 0xfffffffe });
const octet = fc.integer({ min: 0, max: 255 });

const ipv4Unicast = fc
  .tuple(fc.integer({ min: 1, max: 223 }), octet, octet, octet)
  .map((b) => b.join('.'));
const ipv4Multicast = fc
  .tuple(fc.integer({ min: 224, max: 239 }), octet, octet, octet)
  .map((b) => b.join('.'));
const ipv6Unicast = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => formatIPv6(b[0] === 0xff ? new Uint8Array([0xfd, ...b.subarray(1)]) : b));
const ipv6Multicast = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => formatIPv6(new Uint8Array([0xff, ...b.subarray(1)])));

const keyChar = fc
  .integer({ min: 0x20, max: 0x7e })
  .filter((c) => c !== 0x3d)
  .map((c) => String.fromCharCode(c));
const configuration: fc.Arbitrary<SdOption> = fc
  .array(
    fc.record(
      {
        key: fc.array(keyChar, { minLength: 1, maxLength: 8 }).map((a) => a.join('')),
        value: fc.string({ maxLength: 12 }),
      },
      { requiredKeys: ['key'] },
    ),
    { maxLength: 4 },
  )
  .map((items) => ({ type: 'configuration', items }));
const loadBalancing: fc.Arbitrary<SdOption> = fc
  .record({ priority: u16, weight: u16 })
  .map((r) => ({ type: 'loadBalancing', ...r }));
const extras = fc
  .tuple(fc.option(configuration, { nil: undefined }), fc.option(loadBalancing, { nil: undefined }))
  .map((xs) => xs.filter((x): x is SdOption => x !== undefined));

/** At most one UDP and one TCP endpoint of one IP version; `min` of them at least. */
function endpoints(min: number): fc.Arbitrary<EndpointOption[]> {
  return fc
    .tuple(fc.boolean(), ipv4Unicast, ipv6Unicast, fc.boolean(), fc.boolean(), u16, u16)
    .map(([v6, a4, a6, udp, tcp, p1, p2]) => {
      const address = v6 ? a6 : a4;
      const type = v6 ? ('ipv6Endpoint' as const) : ('ipv4Endpoint' as const);
      const out: EndpointOption[] = [];
      if (udp || (min > 0 && !tcp)) out.push({ type, address, protocol: 'udp', port: p1 });
      if (tcp) out.push({ type, address, protocol: 'tcp', port: p2 });
      return out;
    });
}

const serviceIds = fc.record({ serviceId: u16, instanceId: instance, majorVersion: major });
const eventgroupFields = fc.record({
  serviceId: u16,
  instanceId: instance,
  majorVersion: major,
  eventgroupId: u16,
  counter: fc.integer({ min: 0, max: 15 }),
  initialDataRequested: fc.boolean(),
});

/** One entry of any sendable type, with options its type allows. */
export const packEntry: fc.Arbitrary<PackEntry> = fc.oneof(
  fc
    .tuple(
      fc.record({
        serviceId: u16,
        instanceId: u16,
        majorVersion: octet,
        ttl,
        minorVersion: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      extras,
    )
    .map(([f, options]) => ({ entry: { type: 'find' as const, ...f }, options })),
  fc
    .tuple(serviceIds, fc.boolean(), ttl, minor, endpoints(1), extras)
    .map(([f, stop, t, minorVersion, eps, ex]) => ({
      entry: {
        type: stop ? ('stopOffer' as const) : ('offer' as const),
        ...f,
        ttl: stop ? 0 : t,
        minorVersion,
      },
      options: [...eps, ...ex],
    })),
  fc
    .tuple(eventgroupFields, fc.boolean(), ttl, endpoints(0), extras)
    .map(([f, stop, t, eps, ex]) => ({
      entry: {
        type: stop ? ('stopSubscribe' as const) : ('subscribe' as const),
        ...f,
        ttl: stop ? 0 : t,
      },
      options: [...eps, ...ex],
    })),
  fc
    .tuple(
      eventgroupFields,
      fc.boolean(),
      ttl,
      fc.option(fc.tuple(fc.boolean(), ipv4Multicast, ipv6Multicast, u16), { nil: undefined }),
      extras,
    )
    .map(([f, nack, t, mc, ex]) => {
      const options: SdOption[] = [...ex];
      if (!nack && mc !== undefined) {
        const [v6, a4, a6, port] = mc;
        options.push({
          type: v6 ? 'ipv6Multicast' : 'ipv4Multicast',
          address: v6 ? a6 : a4,
          protocol: 'udp',
          port,
        });
      }
      return {
        entry: {
          type: nack ? ('subscribeNack' as const) : ('subscribeAck' as const),
          ...f,
          ttl: nack ? 0 : t,
        },
        options,
      };
    }),
);

/** A whole valid message, packed. */
export const sdMessage: fc.Arbitrary<SdMessage> = fc
  .record({
    sessionId: fc.integer({ min: 1, max: 0xffff }),
    reboot: fc.boolean(),
    eidc: fc.boolean(),
    entries: fc.array(packEntry, { minLength: 1, maxLength: 6 }),
    sdEndpoint: fc.option(ipv4Unicast, { nil: undefined }),
  })
  .map((r) =>
    packSdMessage({
      sessionId: r.sessionId,
      flags: { reboot: r.reboot, unicast: true, explicitInitialDataControl: r.eidc },
      entries: r.entries,
      ...(r.sdEndpoint === undefined
        ? {}
        : {
            sdEndpoint: {
              type: 'ipv4SdEndpoint' as const,
              address: r.sdEndpoint,
              protocol: 'udp' as const,
              port: 30490,
            },
          }),
    }),
  );
