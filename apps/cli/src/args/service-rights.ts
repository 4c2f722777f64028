import { InvalidArgumentError } from 'commander';
import type { OfferRight, RequestRight } from '@sivshm/core';
import { wholeNumber } from './whole-number.js';

const U16 = 0xffff;

function range(text: string, what: string): [number, number] {
  const [lo, hi = lo] = text.split('-');
  const a = wholeNumber(lo ?? '', what, 0, U16);
  const b = wholeNumber(hi ?? '', what, 0, U16);
  if (a > b) throw new InvalidArgumentError(`${what} range "${text}" has lo > hi`);
  return [a, b];
}

/** `SERVICE:INSTANCES`, e.g. `0x1234:1` or `0x1234:1-4`. */
export function parseOffer(text: string, prev: OfferRight[] = []): OfferRight[] {
  const [svc, inst] = text.split(':');
  if (svc === undefined || inst === undefined) {
    throw new InvalidArgumentError(`offer "${text}" must be SERVICE:INSTANCES, e.g. 0x1234:1-4`);
  }
  const [instanceLo, instanceHi] = range(inst, 'instance');
  return [...prev, { service: wholeNumber(svc, 'service', 0, U16), instanceLo, instanceHi }];
}

/** `SERVICE:INSTANCES[:METHODS]`, e.g. `0x1234:1` or `0x1234:1-4:0x8000-0xFFFE`. */
export function parseRequest(text: string, prev: RequestRight[] = []): RequestRight[] {
  const [svc, inst, meth] = text.split(':');
  if (svc === undefined || inst === undefined) {
    throw new InvalidArgumentError(
      `request "${text}" must be SERVICE:INSTANCES[:METHODS], e.g. 0x1234:1:0x8000-0xFFFE`,
    );
  }
  const [instanceLo, instanceHi] = range(inst, 'instance');
  const [methodLo, methodHi] = meth === undefined ? [0, U16] : range(meth, 'method');
  return [
    ...prev,
    { service: wholeNumber(svc, 'service', 0, U16), instanceLo, instanceHi, methodLo, methodHi },
  ];
}
