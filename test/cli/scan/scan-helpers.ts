import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { TestContext } from 'node:test';
import { parseScanArgs } from '../../../src/cli/scan/command.js';
import type { FindingId } from '../../../src/cli/scan/findings.js';
import { buildReport, type ScanReport } from '../../../src/cli/scan/report.js';
import { runScan } from '../../../src/cli/scan/scan.js';

/** Runs `rampart scan` in-process with these arguments and returns the report. */
export async function scan(args: readonly string[]): Promise<ScanReport> {
  const { settings } = parseScanArgs(args);
  return buildReport(await runScan(settings));
}

export const ids = (report: ScanReport): Set<FindingId> => new Set(report.findings.map((f) => f.id));

/** Listens on `host`, port 0; closed when the test ends. */
export async function listen(t: Pick<TestContext, 'after'>, server: Server, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => { resolve(); });
  });
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => { resolve(); });
  }));
  return (server.address() as AddressInfo).port;
}
