import http from 'node:http';
import net from 'node:net';
import { HostdError } from '../errors/hostd-error.js';
import type { HostdMetrics } from './hostd-metrics.js';

/** Where `--metrics` listens. */
export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Parses `HOST:PORT` (`[::1]:9464` for IPv6; a bare `PORT` means 127.0.0.1). A non-loopback host
 * is refused unless `allowRemote`: the figures name every VM and service of the machine.
 */
export function parseMetricsAddress(text: string, allowRemote: boolean): MetricsAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || !Number.isInteger(port) || port > 65535) {
    throw new HostdError('ERR_ARGS', `--metrics ${text} is not HOST:PORT (e.g. 127.0.0.1:9464)`);
  }
  const host = m[1] || m[2] || '127.0.0.1';
  if (net.isIP(host) === 0 && host !== 'localhost') {
    throw new HostdError('ERR_ARGS', `--metrics ${text}: ${host} is not an IP address`);
  }
  if (!isLoopback(host) && !allowRemote) {
    throw new HostdError(
      'ERR_ARGS',
      `--metrics ${text} is not a loopback address: add --metrics-allow-remote to serve it to the network`,
    );
  }
  return { host, port };
}

/** The HTTP endpoint a Prometheus scraper reads: GET /metrics, nothing else. */
export class MetricsServer {
  private constructor(
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  static async listen(at: MetricsAddress, metrics: HostdMetrics): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics\n');
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new HostdError('ERR_METRICS', `cannot listen on ${at.host}:${at.port}: ${e.message}`),
        ),
      );
      server.listen(at.port, at.host, () => resolve());
    });
    const address = server.address();
    return new MetricsServer(server, typeof address === 'object' && address ? address.port : 0);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
