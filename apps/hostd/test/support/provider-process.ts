// A provider VM as its own OS process (for the tests that need consumer and provider in
// separate processes): connects to the infotainment socket given in argv, enrols with the right
// to offer the two test services, offers them over SD and answers every M2. Reports over IPC.
import { TestVm } from './test-vm.js';
import { OFFER_ALL, SERVICE } from './test-deployment.js';

const socketPath = process.argv[2];
if (socketPath === undefined) throw new Error('usage: provider-process <socket>');
const report = (m: Record<string, unknown>): void => void process.send?.(m);

const vm = await TestVm.connect(socketPath);
await vm.enrol(OFFER_ALL);
vm.provide();
vm.offer(SERVICE.speed, 1);
vm.offer(SERVICE.media, 1);
let grants = 0;
const poll = setInterval(() => {
  while (grants < vm.providerGrants.length) {
    const g = vm.providerGrants[grants++]!;
    report({ event: 'granted', channelId: g.channelId.toString() });
  }
}, 2);
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'exit') {
    clearInterval(poll);
    vm.close();
    process.disconnect();
  }
});
process.on('disconnect', () => {
  clearInterval(poll);
  vm.close();
});
report({ event: 'ready', pid: process.pid });
