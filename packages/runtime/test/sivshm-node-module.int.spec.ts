// The app-side inversify module composed into a host container with the app's own module: the
// app's class gets a live consumed service injected by token, and unloading closes the node.
import { expect } from 'chai';
import { Container, ContainerModule } from 'inversify';
import { firstValueFrom, timeout } from 'rxjs';
import type { ConsumedService } from '../src/index.js';
import {
  Node,
  SivshmTokens,
  RuntimeError,
  consumedServiceToken,
  offeredServiceToken,
  sivshmNodeModule,
} from '../src/index.js';
import { setUpEachTest } from './support/deployment.js';

interface VehicleSpeed {
  kph: number;
}

/** The app's own class: it knows a consumed service, not how sivshm opens one. */
class SpeedDashboard {
  constructor(private readonly speed: ConsumedService) {}
  nextKph(): Promise<number> {
    return firstValueFrom(this.speed.event<VehicleSpeed>('speed').pipe(timeout(10_000))).then(
      (e) => e.kph,
    );
  }
  reset(): Promise<unknown> {
    return this.speed.call('reset', { odometer_m: 0 });
  }
}

const AppTokens = { Greeting: Symbol.for('test.app.Greeting') };

describe('sivshmNodeModule in a host container', function () {
  this.timeout(60_000);
  // The Nodes here are the module's: it opens and closes them.
  const rig = setUpEachTest({ provider: true });

  it("injects the Node and a consumed service into the app's module by token, and closes them on unload", async () => {
    const speedToken = consumedServiceToken('VehicleSpeed', 1);
    const sivshm = sivshmNodeModule({
      config: rig.d.configPath,
      vm: 'cluster',
      runDir: rig.d.runDir,
      consume: [{ service: 'VehicleSpeed', options: { instance: 1 } }],
    });
    const app = new ContainerModule(({ bind }) => {
      bind(AppTokens.Greeting).toConstantValue('hello');
      bind(SpeedDashboard)
        .toResolvedValue((s: ConsumedService) => new SpeedDashboard(s), [speedToken])
        .inSingletonScope();
    });
    const container = new Container();
    await container.load(sivshm, app);

    const dashboard = await container.getAsync(SpeedDashboard);
    expect(await dashboard.nextKph()).to.be.within(50, 99);
    expect(await dashboard.reset()).to.have.property('previous_odometer_m');
    expect(container.get(AppTokens.Greeting)).to.equal('hello');
    const node = await container.getAsync(SivshmTokens.Node);
    expect(node).to.be.instanceOf(Node);
    const speed = await container.getAsync(speedToken);
    expect(speed.status).to.equal('connected');
    expect(await container.getAsync(speedToken)).to.equal(speed, 'one per container');
    expect(await container.getAsync(SivshmTokens.Node)).to.equal(node);
    expect(await container.getAsync(SpeedDashboard)).to.equal(dashboard, 'singleton');

    await container.unload(app, sivshm);
    expect(speed.status).to.equal('closed');
    const err = await node.consume('VehicleSpeed', { instance: 1 }).catch((e: unknown) => e);
    expect((err as Error).message).to.match(/the node is closed/);
  });

  it("rejects resolution with the runtime's typed error, saying what to fix", async () => {
    const container = new Container();
    await container.load(
      sivshmNodeModule({
        config: rig.d.configPath,
        vm: 'cluster',
        runDir: rig.d.runDir,
        offer: [{ service: 'VehicleSpeed', options: { instance: 1 } }],
      }),
    );
    let err: unknown;
    try {
      await container.getAsync(offeredServiceToken('VehicleSpeed', 1));
    } catch (e) {
      err = e;
    }
    expect(RuntimeError.is(err), String(err)).to.equal(true);
    expect((err as RuntimeError).code).to.equal('ERR_CONFIG');
    expect((err as Error).message).to.match(
      /names 'infotainment' as the provider of 'VehicleSpeed', not 'cluster'/,
    );
    // Not kept: fixing nothing, the next resolution fails the same way (it is tried again).
    const again = await container
      .getAsync(offeredServiceToken('VehicleSpeed', 1))
      .catch((e: unknown) => e);
    expect((again as RuntimeError).code).to.equal('ERR_CONFIG');
    // A kept failure would hand back the same rejection; a new attempt makes a new error.
    expect(again, 'a new attempt, not the kept failure').to.not.equal(err);
    const node = await container.getAsync(SivshmTokens.Node);
    await container.unbindAll(); // closes the node it opened
    const closed = await node.consume('VehicleSpeed', { instance: 1 }).catch((e: unknown) => e);
    expect((closed as Error).message).to.match(/the node is closed/);
  });
});
