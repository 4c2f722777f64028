// The JSON a shell user types for `sivshm call`, checked against the request's protobuf type:
// proto3-style values accepted (enum names, 64-bit integers as strings, base64 bytes, maps,
// repeated and nested fields), and each mistake one line naming the field and what it must be.
import { expect } from 'chai';
import protobuf from 'protobufjs';
import { messageFromJson, messageToJson } from '../src/diag/json-message.js';

const root = protobuf.parse(
  `syntax = "proto3";
  package t;
  enum Gear { GEAR_UNSPECIFIED = 0; GEAR_DRIVE = 4; }
  message Inner { sint32 delta = 1; }
  message Req {
    uint64 odometer_m = 1;
    int32 offset = 2;
    Gear gear = 3;
    bytes blob = 4;
    repeated Inner steps = 5;
    map<string, uint32> limits = 6;
    oneof target { string name = 7; uint32 id = 8; }
    double ratio = 9;
    bool on = 10;
  }`,
  { keepCase: true },
).root;
const Req = root.lookupType('t.Req');

const problem = (json: string): string => {
  try {
    messageFromJson(Req, json, 'the request');
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`${json} was accepted`);
};

describe('sivshm call: JSON against the request type', () => {
  it('should take proto3-style JSON and round-trip it to the same JSON', () => {
    const m = messageFromJson(
      Req,
      JSON.stringify({
        odometer_m: '18446744073709551615',
        offset: -5,
        gear: 'GEAR_DRIVE',
        blob: 'AQID',
        steps: [{ delta: -1 }, { delta: 2 }],
        limits: { front: 3 },
        name: 'x',
        ratio: 0.5,
        on: true,
      }),
      'the request',
    );
    const back = Req.decode(Req.encode(m).finish());
    expect(messageToJson(Req, back)).to.deep.equal({
      odometer_m: '18446744073709551615',
      offset: -5,
      gear: 'GEAR_DRIVE',
      blob: 'AQID',
      steps: [{ delta: -1 }, { delta: 2 }],
      limits: { front: 3 },
      name: 'x',
      ratio: 0.5,
      on: true,
    });
    // An enum by number and a null (the default) are taken too; defaults are printed.
    const n = messageFromJson(Req, '{"gear": 4, "offset": null}', 'the request');
    expect(messageToJson(Req, n)).to.include({ gear: 'GEAR_DRIVE', offset: 0, odometer_m: '0' });
  });

  it('should name an unknown field, also inside a list of messages', () => {
    expect(problem('{"odometer": 1}')).to.equal(
      "the request field 'odometer': is not a field of t.Req; its fields: odometer_m, offset, gear, blob, steps, limits, name, id, ratio, on",
    );
    expect(problem('{"steps": [{"delta": 1}, {"dleta": 2}]}')).to.match(
      /^the request field 'steps\[1\]\.dleta': is not a field of t\.Inner; its fields: delta$/,
    );
  });

  it('should name a value of the wrong type or out of range and say what it must be', () => {
    expect(problem('{"offset": 2147483648}')).to.equal(
      "the request field 'offset': expected an integer -2147483648..2147483647, got 2147483648",
    );
    expect(problem('{"odometer_m": -1}')).to.match(/field 'odometer_m': expected an integer 0\.\./);
    expect(problem('{"odometer_m": 1.5}')).to.match(/field 'odometer_m'/);
    expect(problem('{"gear": "REVERSE"}')).to.equal(
      'the request field \'gear\': expected one of GEAR_UNSPECIFIED, GEAR_DRIVE (t.Gear) or its number, got "REVERSE"',
    );
    expect(problem('{"on": "yes"}')).to.match(/field 'on': expected true or false/);
    expect(problem('{"blob": "not base64!"}')).to.match(/field 'blob': expected base64/);
    expect(problem('{"steps": {"delta": 1}}')).to.match(/field 'steps': expected a list/);
    expect(problem('{"limits": {"front": "3"}}')).to.match(/field 'limits\["front"\]'/);
    expect(problem('{"name": "a", "id": 1}')).to.match(
      /sets name and id, members of one oneof target/,
    );
  });

  it('should refuse text that is not JSON or not an object', () => {
    expect(problem('{odometer_m: 1}')).to.match(/^the request is not JSON \(.*\); write it like/);
    expect(problem('[1]')).to.equal('the request: expected an object (message t.Req), got [1]');
  });
});
