import { expect } from 'chai';
import fc from 'fast-check';
import { Observable, Subject, filter, type Subscriber } from 'rxjs';
import { FindWatchers } from './find-watchers.js';
import { matchesFind, type RemoteService, type ServiceAvailability } from './service-types.js';

type Query = { serviceId: number; instanceId: number; majorVersion: number; minorVersion: number };

const query = fc.record({
  serviceId: fc.constantFrom(1, 2),
  instanceId: fc.constantFrom(1, 2, 0xffff),
  majorVersion: fc.constantFrom(1, 0xff),
  minorVersion: fc.constantFrom(0, 5, 0xffffffff),
});

const change = fc
  .record({
    available: fc.boolean(),
    serviceId: fc.constantFrom(1, 2),
    instanceId: fc.constantFrom(1, 2),
    majorVersion: fc.constantFrom(1, 2),
    minorVersion: fc.constantFrom(0, 5, 9),
  })
  .map(({ available, ...ids }): ServiceAvailability => {
    const service = {
      ...ids,
      peer: 'p',
      replyTo: { address: 'p', port: 0 },
      ttl: 3,
      endpoints: [],
    } as unknown as RemoteService;
    return available ? { available, service } : { available, service, reason: 'stopOffer' };
  });

/** Every caller's log of (caller, change index), in delivery order, plus completions. */
function run(
  queries: readonly Query[],
  changes: readonly ServiceAvailability[],
  watch: (src: Subject<ServiceAvailability>, q: Query, caller: number, log: string[]) => void,
): string[] {
  const src = new Subject<ServiceAvailability>();
  const log: string[] = [];
  queries.forEach((q, caller) => watch(src, q, caller, log));
  for (const c of changes) src.next(c);
  src.complete();
  return log;
}

const sink = (caller: number, changes: readonly ServiceAvailability[], log: string[]) => ({
  next: (c: ServiceAvailability) => log.push(`${caller}:${changes.indexOf(c)}`),
  complete: () => log.push(`${caller}:done`),
});

describe('FindWatchers', () => {
  it('should deliver the same changes in the same order as one filtered subscription per caller (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(query, { maxLength: 8 }),
        fc.array(change, { maxLength: 12 }),
        (qs, cs) => {
          const expected = run(qs, cs, (src, q, caller, log) => {
            src.pipe(filter((c) => matchesFind(q, c.service))).subscribe(sink(caller, cs, log));
          });
          let watchers: FindWatchers | undefined;
          const actual = run(qs, cs, (src, q, caller, log) => {
            watchers ??= new FindWatchers(src);
            const w = watchers;
            new Observable<ServiceAvailability>((s: Subscriber<ServiceAvailability>) =>
              w.watch(q, s),
            ).subscribe(sink(caller, cs, log));
          });
          expect(actual).to.deep.equal(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should stop delivering to a caller once it stops watching', () => {
    const src = new Subject<ServiceAvailability>();
    const watchers = new FindWatchers(src);
    const seen: number[] = [];
    const sub = new Observable<ServiceAvailability>((s) =>
      watchers.watch(
        { serviceId: 1, instanceId: 1, majorVersion: 0xff, minorVersion: 0xffffffff },
        s,
      ),
    ).subscribe((c) => seen.push(c.service.minorVersion));
    const svc = (minorVersion: number) =>
      ({ serviceId: 1, instanceId: 1, majorVersion: 1, minorVersion }) as unknown as RemoteService;
    src.next({ available: true, service: svc(1) });
    sub.unsubscribe();
    src.next({ available: true, service: svc(2) });
    expect(seen).to.deep.equal([1]);
  });
});
