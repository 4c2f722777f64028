import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'chai';
import {
  ChannelModeCode,
  DoorbellLayout,
  DoorbellRoute,
  EventLayout,
  GRANT_KEY_SIZE,
  GRANT_TAG_LABEL,
  GrantLayout,
  GrantPerm,
  GrantReqLayout,
  GrantRole,
  InfoFlag,
  InfoLayout,
  NonceLayout,
  PAGE_GRANULES,
  PAGE_SIZE,
  REGION_HEADER_STRUCT_SIZE,
  ControlFileLayout,
  RegionHeaderLayout,
  REVOKE_TAG_LABEL,
  REVOKE_RECEIPT_LABEL,
  REVOKE_RECEIPT_SIZE,
  RevokeLayout,
  RevokeReqLayout,
  SERIAL_WINDOW,
  SetKeyLayout,
  SIVSHM_IOCTL_MAGIC,
  SivshmIoctl,
  SivshmVerdict,
  TOKEN_TAG_SIZE,
  WindowLayout,
  ChannelDeviceHeaderLayout,
  DEVICE_MAP_BASE,
  GrantTarget,
} from '@sivshm/abi';
import { packageRoot } from '@sivshm/testing';

/** snake_case → camelCase, to name C fields the way the TypeScript layouts do. */
const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('UAPI header (include/uapi/sivshm.h) against @sivshm/abi', function () {
  this.timeout(60_000);
  let dump: Map<string, string>;

  before(function () {
    const root = packageRoot(import.meta.url);
    const work = mkdtempSync(join(tmpdir(), 'sivshm-uapi-'));
    try {
      const bin = join(work, 'uapi-dump');
      try {
        execFileSync('gcc', [
          '-std=c11',
          '-Wall',
          '-Wextra',
          '-Werror',
          '-I',
          join(root, 'include', 'uapi'),
          join(root, 'test', 'uapi-dump.c'),
          '-o',
          bin,
        ]);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          console.log('skipping: gcc is not installed (apt-get install gcc libc6-dev)');
          this.skip();
        }
        throw e;
      }
      const out = execFileSync(bin, { encoding: 'utf8' });
      dump = new Map(
        out
          .trim()
          .split('\n')
          .map((l) => l.split(' ', 2) as [string, string]),
      );
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  const num = (key: string): number => {
    const v = dump.get(key);
    expect(v, `the C dump has no ${key}`).to.be.a('string');
    return Number(v);
  };

  /** Every offset of `layout.off` equals offsetof(struct, snake_case field). */
  const offsetsMatch = (struct: string, off: Record<string, number>): void => {
    const cFields = [...dump.keys()]
      .filter((k) => k.startsWith(`offsetof.${struct}.`))
      .map((k) => k.slice(`offsetof.${struct}.`.length));
    expect(cFields.map(camel).sort(), `fields of struct ${struct}`).to.deep.equal(
      Object.keys(off).sort(),
    );
    for (const f of cFields) {
      expect(off[camel(f)], `offsetof(struct ${struct}, ${f})`).to.equal(
        num(`offsetof.${struct}.${f}`),
      );
    }
  };

  describe('ioctl numbers', () => {
    it('should use the magic of the header', () => {
      expect(SIVSHM_IOCTL_MAGIC).to.equal(num('ioctl.magic'));
    });

    it('should compute every request number as _IOR/_IOW/_IOWR do', () => {
      for (const [name, value] of Object.entries(SivshmIoctl)) {
        expect(value, `SIVSHM_IOC_${name}`).to.equal(num(`ioctl.${name}`));
      }
    });
  });

  describe('ioctl structs', () => {
    const structs: Array<[string, { size: number; off: Record<string, number> }]> = [
      ['sivshm_info', InfoLayout],
      ['sivshm_nonce', NonceLayout],
      ['sivshm_set_key', SetKeyLayout],
      ['sivshm_grant_req', GrantReqLayout],
      ['sivshm_revoke_req', RevokeReqLayout],
      ['sivshm_doorbell', DoorbellLayout],
      ['sivshm_event', EventLayout],
    ];
    for (const [struct, layout] of structs) {
      it(`should match struct ${struct} in size and every offset`, () => {
        expect(layout.size, `sizeof(struct ${struct})`).to.equal(num(`sizeof.${struct}`));
        offsetsMatch(struct, layout.off);
      });
    }

    it('should match the info flags', () => {
      expect(InfoFlag.keySet).to.equal(num('info.keySet'));
      expect(InfoFlag.headerOk).to.equal(num('info.headerOk'));
      expect(InfoFlag.controlReadOnly).to.equal(num('info.controlReadOnly'));
    });

    it('should match every verdict code', () => {
      const cNames = [...dump.keys()].filter((k) => k.startsWith('verdict.'));
      expect(cNames.map((k) => k.slice(8)).sort()).to.deep.equal(Object.keys(SivshmVerdict).sort());
      for (const [name, code] of Object.entries(SivshmVerdict)) {
        expect(code, `verdict ${name}`).to.equal(num(`verdict.${name}`));
      }
    });
  });

  describe('token layouts of @sivshm/abi', () => {
    it('should match struct sivshm_grant_token (GrantLayout)', () => {
      expect(GrantLayout.size).to.equal(num('sizeof.sivshm_grant_token'));
      offsetsMatch('sivshm_grant_token', GrantLayout.off);
      expect(GrantLayout.knSize).to.equal(num('grant.knSize'));
      expect(GrantLayout.pad1Size).to.equal(num('grant.pad1Size'));
      expect(GrantLayout.magic).to.equal(num('grant.magic'));
      expect(GrantLayout.version).to.equal(num('grant.version'));
      expect(DoorbellRoute.noPeer).to.equal(num('db.noPeer'));
      expect(DoorbellRoute.maxVectors).to.equal(num('db.maxVectors'));
    });

    it('should match struct sivshm_revoke_token (RevokeLayout)', () => {
      expect(RevokeLayout.size).to.equal(num('sizeof.sivshm_revoke_token'));
      offsetsMatch('sivshm_revoke_token', RevokeLayout.off);
      expect(RevokeLayout.pad0Size).to.equal(num('revoke.pad0Size'));
      expect(RevokeLayout.magic).to.equal(num('revoke.magic'));
      expect(RevokeLayout.version).to.equal(num('token.version'));
    });

    it('should match the key and tag sizes, serial window, roles, perms and modes', () => {
      expect(TOKEN_TAG_SIZE).to.equal(num('token.tagSize'));
      expect(GRANT_KEY_SIZE).to.equal(num('token.keySize'));
      expect(SERIAL_WINDOW).to.equal(num('token.serialWindow'));
      expect(GrantRole.consumer).to.equal(num('role.consumer'));
      expect(GrantRole.provider).to.equal(num('role.provider'));
      expect(GrantPerm.map).to.equal(num('perm.map'));
      expect(ChannelModeCode).to.deep.equal({
        plain: num('mode.plain'),
        mac: num('mode.mac'),
        aead: num('mode.aead'),
      });
    });

    it('should hash the same labels, NUL included', () => {
      const enc = new TextEncoder();
      expect(hex(enc.encode(GRANT_TAG_LABEL))).to.equal(dump.get('label.grant'));
      expect(hex(enc.encode(REVOKE_TAG_LABEL))).to.equal(dump.get('label.revoke'));
    });

    it('should hash the same revoke-receipt label, without a NUL, into a receipt of the same size', () => {
      expect(hex(new TextEncoder().encode(REVOKE_RECEIPT_LABEL))).to.equal(
        dump.get('label.receipt'),
      );
      expect(REVOKE_RECEIPT_SIZE).to.equal(num('receipt.size'));
    });
  });

  describe('region layout of @sivshm/abi', () => {
    it('should match struct sivshm_region_header offsets, magic and version', () => {
      expect(REGION_HEADER_STRUCT_SIZE).to.equal(num('sizeof.sivshm_region_header'));
      offsetsMatch('sivshm_region_header', RegionHeaderLayout.off);
      expect(hex(RegionHeaderLayout.magic)).to.equal(dump.get('region.magic'));
      expect(hex(ControlFileLayout.magic)).to.equal(dump.get('control.magic'));
      expect(RegionHeaderLayout.layoutVersion).to.equal(num('region.layoutVersion'));
      expect(RegionHeaderLayout.granuleLayoutVersion).to.equal(num('region.granuleLayoutVersion'));
      expect(PAGE_GRANULES[0]).to.equal(num('region.granuleMin'));
      expect(PAGE_GRANULES[PAGE_GRANULES.length - 1]).to.equal(num('region.granuleMax'));
      expect(RegionHeaderLayout.size).to.equal(num('page.size'));
    });

    it('should match struct sivshm_chandev_header (a channel device), the grant target and the device map offset', () => {
      expect(ChannelDeviceHeaderLayout.size).to.equal(num('sizeof.sivshm_chandev_header'));
      offsetsMatch('sivshm_chandev_header', ChannelDeviceHeaderLayout.off);
      expect(hex(ChannelDeviceHeaderLayout.magic)).to.equal(dump.get('chandev.magic'));
      expect(ChannelDeviceHeaderLayout.version).to.equal(num('chandev.version'));
      expect(GrantTarget.region).to.equal(num('target.region'));
      expect(GrantTarget.device).to.equal(num('target.device'));
      expect(DEVICE_MAP_BASE).to.equal(num('devmap.base'));
    });

    it('should match the window page offsets', () => {
      expect(PAGE_SIZE).to.equal(num('page.size'));
      expect(WindowLayout.producerPage).to.equal(num('window.producerPage'));
      expect(WindowLayout.consumerPage).to.equal(num('window.consumerPage'));
      expect(WindowLayout.dataArea).to.equal(num('window.dataArea'));
    });
  });
});
