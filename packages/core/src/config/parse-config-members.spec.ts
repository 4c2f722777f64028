import { expect } from 'chai';
import { BASE, FILES, parse, edit, issuesOf, expectIssue } from '../../test/helpers/config-text.js';
import { formatConfigIssue } from './config-issue.js';

describe('parseConfig', () => {
  describe('.eventgroups, events and methods', () => {
    it('should refuse eventgroup ids 0 and 0xFFFF', () => {
      expectIssue(
        edit('      - id: 1', '      - id: 0'),
        23,
        13,
        'services[0].eventgroups[0].id',
        '0 is out of range 0x0001..0xFFFE',
      );
      expectIssue(
        edit('      - id: 1', '      - id: 0xFFFF'),
        23,
        13,
        'services[0].eventgroups[0].id',
        '0xFFFF is out of range 0x0001..0xFFFE',
      );
    });

    it('should refuse event ids outside 0x8000..0xFFFE', () => {
      expectIssue(
        edit('id: 0x8001', 'id: 0x7FFF'),
        26,
        19,
        'services[0].eventgroups[0].events[0].id',
        '0x7FFF is out of range 0x8000..0xFFFE',
      );
      expectIssue(
        edit('id: 0x8001', 'id: 0xFFFF'),
        26,
        19,
        'services[0].eventgroups[0].events[0].id',
        '0xFFFF is out of range 0x8000..0xFFFE',
      );
    });

    it('should refuse method ids outside 0x0001..0x7FFF', () => {
      expectIssue(
        edit('id: 0x0001', 'id: 0x8000'),
        28,
        15,
        'services[0].methods[0].id',
        '0x8000 is out of range 0x0001..0x7FFF',
      );
      expectIssue(
        edit('id: 0x0001', 'id: 0'),
        28,
        15,
        'services[0].methods[0].id',
        '0 is out of range 0x0001..0x7FFF',
      );
    });

    it('should refuse an event id used twice in a service', () => {
      const text = edit(
        '    methods:',
        [
          '      - id: 2', //                                                 27
          '        name: again', //                                           28
          '        events:', //                                               29
          '          - { id: 0x8001, name: other, type: t.Speed }', //        30
          '    methods:',
        ].join('\n'),
      );
      expectIssue(
        text,
        30,
        19,
        'services[0].eventgroups[1].events[0].id',
        'duplicate event id 0x8001; an event belongs to one eventgroup (first at services[0].eventgroups[0].events[0].id, line 26)',
      );
    });

    it('should refuse a duplicate eventgroup id', () => {
      const text = edit(
        '    methods:',
        [
          '      - id: 1',
          '        name: again',
          '        events:',
          '          - { id: 0x8002, name: other, type: t.Speed }',
          '    methods:',
        ].join('\n'),
      );
      expectIssue(
        text,
        27,
        13,
        'services[0].eventgroups[1].id',
        'duplicate eventgroup id 0x0001 (first at services[0].eventgroups[0].id, line 23)',
      );
    });

    it('should refuse a method id used twice in a service', () => {
      const text = `${BASE}      - { id: 1, name: other, request: t.Req, response: t.Res }\n`;
      expectIssue(
        text,
        29,
        15,
        'services[0].methods[1].id',
        'duplicate method id 0x0001 (first at services[0].methods[0].id, line 28)',
      );
    });

    it('should refuse duplicate eventgroup, event and method names', () => {
      const group = [
        '      - id: 2', //                                                   27
        '        name: speed', //                                             28
        '        events:', //                                                 29
        '          - { id: 0x8002, name: speed, type: t.Speed }', //          30
        '    methods:',
      ].join('\n');
      const issues = issuesOf(edit('    methods:', group)).map(formatConfigIssue);
      expect(issues).to.deep.equal([
        "services.yaml:28:15: services[0].eventgroups[1].name: duplicate eventgroup name 'speed' (first at services[0].eventgroups[0].name, line 24)",
        "services.yaml:30:33: services[0].eventgroups[1].events[0].name: duplicate event name 'speed' (first at services[0].eventgroups[0].events[0].name, line 26)",
      ]);
      expectIssue(
        `${BASE}      - { id: 2, name: reset, request: t.Req, response: t.Res }\n`,
        29,
        24,
        'services[0].methods[1].name',
        "duplicate method name 'reset' (first at services[0].methods[0].name, line 28)",
      );
    });

    it('should refuse an eventgroup without events', () => {
      expectIssue(
        edit(
          '          - { id: 0x8001, name: speed, type: t.Speed }\n',
          '',
          edit('        events:', '        events: []'),
        ),
        25,
        17,
        'services[0].eventgroups[0].events',
        'list at least one event',
      );
    });
  });

  describe('.protobuf types', () => {
    it('should name a missing type and the files searched', () => {
      expectIssue(
        edit('type: t.Speed', 'type: t.Velocity'),
        26,
        46,
        'services[0].eventgroups[0].events[0].type',
        'type t.Velocity is not defined in test.proto',
      );
    });

    it('should refuse an enum where a message belongs', () => {
      expectIssue(
        edit('response: t.Res', 'response: t.Mode'),
        28,
        62,
        'services[0].methods[0].response',
        't.Mode is an enum in test.proto, not a message type',
      );
    });

    it('should refuse a type name that is not a dotted identifier', () => {
      expectIssue(
        edit('request: t.Req', 'request: "t..Req"'),
        28,
        45,
        'services[0].methods[0].request',
        't..Req is not a fully qualified protobuf message name such as sivshm.demo.VehicleSpeed',
      );
    });

    it('should report a .proto file that cannot be read, once', () => {
      expectIssue(
        edit('protos: [test.proto]', 'protos: [nope.proto]'),
        12,
        10,
        'protos[0]',
        /^cannot load nope\.proto: ENOENT/,
      );
    });

    it('should report a .proto syntax error with the proto line', () => {
      FILES['/cfg/broken.proto'] =
        'syntax = "proto3";\npackage t;\nmessage Speed { float kph = ; }\n';
      try {
        expectIssue(
          edit('protos: [test.proto]', 'protos: [broken.proto]'),
          12,
          10,
          'protos[0]',
          /^cannot load broken\.proto: .*broken\.proto, line 3/,
        );
      } finally {
        delete FILES['/cfg/broken.proto'];
      }
    });

    it('should load imports beside the importing file and well-known types', () => {
      FILES['/cfg/sub/main.proto'] =
        'syntax = "proto3";\nimport "dep.proto";\nimport "google/protobuf/timestamp.proto";\npackage t;\nmessage Speed { d.Kph kph = 1; google.protobuf.Timestamp at = 2; }\nmessage Req {}\nmessage Res {}\n';
      FILES['/cfg/sub/dep.proto'] =
        'syntax = "proto3";\npackage d;\nmessage Kph { float v = 1; }\n';
      try {
        const c = parse(edit('protos: [test.proto]', 'protos: [sub/main.proto]'));
        expect(c.protoRoot.lookupType('t.Speed').fieldsArray.map((f) => f.name)).to.deep.equal([
          'kph',
          'at',
        ]);
      } finally {
        delete FILES['/cfg/sub/main.proto'];
        delete FILES['/cfg/sub/dep.proto'];
      }
    });

    it('should say so when types are used but no .proto file is listed', () => {
      const issues = issuesOf(edit('protos: [test.proto]\n', ''));
      expect(issues.map((i) => i.message)).to.include(
        'type t.Speed is not defined: no .proto files are listed in protos',
      );
    });
  });
});
