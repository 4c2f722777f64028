// A VM that floods hostd with validly signed M1s (docs/security.md#t42), as its own OS
// process so that the VMs it competes with keep their own event loop: connects to the socket
// in argv, enrols, signs every M1 ahead, then sends them at `rate` per second for `ms`
// milliseconds and counts the answers (grant or ABORT by reason). Reports over IPC.
import { TestVm, type RequestOutcome } from './test-vm.js';

const [socketPath, serviceArg, rateArg, msArg] = process.argv.slice(2);
const service = Number(serviceArg);
const rate = Number(rateArg);
const durationMs = Number(msArg);
if (
  socketPath === undefined ||
  !Number.isInteger(service) ||
  !Number.isInteger(rate) ||
  rate < 1 ||
  rate > 100_000 ||
  !Number.isInteger(durationMs) ||
  durationMs < 1 ||
  durationMs > 60_000
) {
  throw new Error('usage: flood-process <socket> <service> <rate 1..100000/s> <ms 1..60000>');
}
const report = (m: Record<string, unknown>): void => void process.send?.(m);

const vm = await TestVm.connect(socketPath);
await vm.enrol({
  offers: [],
  requests: [{ service, instanceLo: 1, instanceHi: 1, methodLo: 1, methodHi: 0xfffe }],
});
const total = Math.ceil((rate * durationMs) / 1000);
const reasons: Record<string, number> = {};
let answered = 0;
const onOutcome = (o: RequestOutcome): void => {
  answered++;
  const key = o.kind === 'granted' ? 'granted' : o.reason;
  reasons[key] = (reasons[key] ?? 0) + 1;
};
const m1s: Uint8Array[] = [];
for (let i = 0; i < total; i++) m1s.push(vm.prepareRequest(service, onOutcome));
report({ event: 'ready', pid: process.pid, total });

await new Promise<void>((resolve) => process.once('message', () => resolve()));
// Sends what is due every millisecond-ish tick, so the rate holds whatever the timer jitter.
const t0 = performance.now();
const cpu0 = process.cpuUsage();
let sent = 0;
await new Promise<void>((resolve) => {
  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000));
    while (sent < due) vm.send({ kind: 'handshake', message: m1s[sent++]! });
    if (sent >= total) {
      clearInterval(tick);
      resolve();
    }
  }, 1);
});
const sendMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;
// The few admitted M1s get a grant or an ABORT at the PENDING deadline; refusals for the rate
// are answered only within hostd's answer budget (the rest are counted, not answered). So the
// wait ends once answers stopped coming for longer than the PENDING deadline, or at 15 s.
const deadline = Date.now() + 15_000;
let last = answered;
let quietSince = Date.now();
while (answered < total && Date.now() < deadline && Date.now() - quietSince < 1500) {
  await new Promise((r) => setTimeout(r, 10));
  if (answered !== last) {
    last = answered;
    quietSince = Date.now();
  }
}
report({ event: 'done', total, sent, sendMs, cpuMs, answered, reasons });
vm.close();
process.disconnect?.();
