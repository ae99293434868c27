/**
 * `npm run deps:check`: the dependency report CI runs (issue 15). It reads package.json,
 * package-lock.json and the pin table in docs/dependencies.md, asks the npm registry about
 * every locked package (bounded: a timeout per request, a few requests at a time, one request
 * per package name per run), and reports every package that is deprecated, more than one
 * major release behind, or carries an install script. It fails on a deprecated runtime
 * package, a runtime package with an install script, a pin with no written reason (a package
 * held behind a release line, or a row of docs/dependencies.md for another version), and a
 * registry it could not ask; a package behind only by a newer minor or patch is reported. npm's advisory endpoint is probed and, when it does not answer,
 * the report says advisories were not checked instead of passing silently.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** What the registry says about one package. */
export interface RegistryPackage {
  /** dist-tags.latest */
  readonly latest: string;
  /** The deprecation message of each deprecated version. */
  readonly deprecated: Readonly<Record<string, string>>;
}

/** Looks a package up; rejects when the registry cannot answer. */
export type RegistryLookup = (name: string) => Promise<RegistryPackage>;

/** Advisories by package name, or a rejection when the advisory source cannot answer. */
export type AdvisoryLookup = (versions: Readonly<Record<string, readonly string[]>>) => Promise<Readonly<Record<string, readonly { readonly title: string; readonly severity: string }[]>>>;

export interface PackageJson {
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly overrides?: Readonly<Record<string, unknown>>;
}

interface LockEntry {
  readonly version?: string;
  readonly dev?: boolean;
  readonly optional?: boolean;
  readonly devOptional?: boolean;
  readonly hasInstallScript?: boolean;
  /** npm records a deprecation notice in the lockfile when it installs a deprecated version. */
  readonly deprecated?: string;
  readonly link?: boolean;
}

export interface Lockfile {
  readonly lockfileVersion?: number;
  readonly packages?: Readonly<Record<string, LockEntry>>;
}

export type FindingKind = 'deprecated' | 'install-script' | 'majors-behind' | 'update-available' | 'pin-without-reason' | 'stale-pin-reason' | 'registry-unreachable' | 'advisory' | 'advisories-not-checked';

export interface Finding {
  readonly kind: FindingKind;
  readonly name: string;
  readonly version: string;
  readonly runtime: boolean;
  /** A fatal finding fails the check. */
  readonly fatal: boolean;
  readonly detail: string;
}

export interface CheckInput {
  readonly packageJson: PackageJson;
  readonly lockfile: Lockfile;
  /** docs/dependencies.md, whose pin table holds a reason for every pin. */
  readonly pinTable: string;
  readonly lookup: RegistryLookup;
  readonly advisories: AdvisoryLookup;
  readonly concurrency?: number;
}

export interface Report {
  readonly findings: readonly Finding[];
  readonly packages: number;
  readonly failed: boolean;
}

interface Locked {
  readonly name: string;
  readonly version: string;
  readonly runtime: boolean;
  readonly hasInstallScript: boolean;
  readonly deprecated: string | undefined;
}

/** Every installed package of a v2/v3 lockfile, once per name and version. */
export function lockedPackages(lockfile: Lockfile): Locked[] {
  if (lockfile.packages === undefined) throw new Error('package-lock.json has no "packages" map (lockfileVersion 2 or 3 is required)');
  const seen = new Map<string, Locked>();
  for (const [path, entry] of Object.entries(lockfile.packages)) {
    if (path === '' || entry.link === true || entry.version === undefined) continue;
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const key = `${name}@${entry.version}`;
    // devOptional: needed by a dev dependency and optionally at run time, so it ships.
    const runtime = entry.dev !== true;
    const previous = seen.get(key);
    seen.set(key, {
      name,
      version: entry.version,
      runtime: runtime || previous?.runtime === true,
      hasInstallScript: entry.hasInstallScript === true || previous?.hasInstallScript === true,
      deprecated: entry.deprecated ?? previous?.deprecated,
    });
  }
  return [...seen.values()].sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name)));
}

/**
 * The pin table of docs/dependencies.md: rows `| package | version | reason |` under a
 * header whose first cell is "Package". Names may be written in backticks.
 */
export function parsePinTable(markdown: string): Map<string, { version: string; reason: string }> {
  const pins = new Map<string, { version: string; reason: string }>();
  let inTable = false;
  for (const raw of markdown.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split('|').map((cell) => cell.trim().replaceAll('`', ''));
    if (cells[0]?.toLowerCase() === 'package') {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0] ?? '')) continue;
    const [name, version, reason] = cells;
    if (name !== undefined && name !== '') pins.set(name, { version: version ?? '', reason: reason ?? '' });
  }
  return pins;
}

/** The breaking-change line of a version: the major, or `0.minor` below 1.0. */
function releaseLine(version: string): [number, number] {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  return [major, major === 0 ? minor : 0];
}

/** How many breaking release lines `version` is behind `latest` (0.4 → 0.5 counts as one). */
export function linesBehind(version: string, latest: string): number {
  const [major, minor] = releaseLine(version);
  const [latestMajor, latestMinor] = releaseLine(latest);
  if (latestMajor > major) return latestMajor - major;
  if (latestMajor === 0 && major === 0) return Math.max(0, latestMinor - minor);
  return 0;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0);
  const pb = b.split(/[.+-]/).slice(0, 3).map((part) => Number.parseInt(part, 10) || 0);
  for (let i = 0; i < 3; i += 1) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The whole check. Pure apart from the two lookups it is given. */
export async function checkDependencies(input: CheckInput): Promise<Report> {
  const findings: Finding[] = [];
  const add = (finding: Omit<Finding, 'fatal'> & { fatal?: boolean }): void => {
    findings.push({ fatal: false, ...finding });
  };
  const locked = lockedPackages(input.lockfile);
  const direct = { ...input.packageJson.devDependencies, ...input.packageJson.dependencies };
  const runtimeDirect = new Set(Object.keys(input.packageJson.dependencies ?? {}));
  const pins = parsePinTable(input.pinTable);

  for (const pkg of locked) {
    if (pkg.hasInstallScript) {
      add({
        kind: 'install-script',
        name: pkg.name,
        version: pkg.version,
        runtime: pkg.runtime,
        fatal: pkg.runtime,
        detail: pkg.runtime
          ? 'a runtime package with an install script (npm runs none here: ignore-scripts); choose one that needs none'
          : 'a development package with an install script (npm runs none here: ignore-scripts)',
      });
    }
  }

  const names = [...new Set(locked.map((pkg) => pkg.name))];
  const answers = await mapBounded(names, input.concurrency ?? 8, async (name) => {
    try {
      return { name, info: await input.lookup(name) };
    } catch (err) {
      return { name, error: err instanceof Error ? err.message : String(err) };
    }
  });
  const registry = new Map<string, RegistryPackage>();
  for (const answer of answers) {
    if (answer.info !== undefined) registry.set(answer.name, answer.info);
    else {
      const runtime = locked.some((pkg) => pkg.name === answer.name && pkg.runtime);
      add({ kind: 'registry-unreachable', name: answer.name, version: '', runtime, fatal: true, detail: `the registry did not answer (${answer.error}): deprecation and versions are unknown` });
    }
  }

  for (const pkg of locked) {
    // The registry's notice is current; the lockfile's was recorded at install time.
    const message = registry.get(pkg.name)?.deprecated[pkg.version] ?? pkg.deprecated;
    if (message !== undefined) {
      add({ kind: 'deprecated', name: pkg.name, version: pkg.version, runtime: pkg.runtime, fatal: pkg.runtime, detail: `deprecated: ${message}` });
    }
  }

  for (const [name, range] of Object.entries(direct).sort(([a], [b]) => a.localeCompare(b))) {
    const version = locked.find((pkg) => pkg.name === name && (pkg.version === range || range.includes(pkg.version)))?.version ?? range;
    const runtime = runtimeDirect.has(name);
    const info = registry.get(name);
    const pin = pins.get(name);
    if (info === undefined) continue;
    const behind = linesBehind(version, info.latest);
    if (behind > 1) add({ kind: 'majors-behind', name, version, runtime, detail: `${behind} major releases behind ${info.latest}` });
    // A pin: held below the registry's latest release on purpose. It needs its reason written down.
    if (compareVersions(version, info.latest) < 0) {
      if ((pin === undefined || pin.reason === '') && behind === 0) {
        // Behind within its release line: a minor or patch release came out since the last
        // update. That is routine upkeep, not a decision to hold the package back, so it is
        // reported and does not fail (a release published an hour ago would otherwise fail CI).
        add({ kind: 'update-available', name, version, runtime, detail: `${info.latest} is out (same release line): update it, or write down why not` });
      } else if (pin === undefined || pin.reason === '') {
        add({ kind: 'pin-without-reason', name, version, runtime, fatal: true, detail: `held at ${version} while ${info.latest} is out, with no reason in docs/dependencies.md` });
      } else if (pin.version !== version) {
        add({ kind: 'pin-without-reason', name, version, runtime, fatal: true, detail: `docs/dependencies.md gives a reason for ${pin.version}, but ${version} is installed: re-check the reason` });
      }
    } else if (pin !== undefined && input.packageJson.overrides?.[name] === undefined) {
      add({ kind: 'stale-pin-reason', name, version, runtime, detail: `at the latest release, yet docs/dependencies.md still lists a pin (${pin.version}): remove the row` });
    }
  }

  for (const name of Object.keys(input.packageJson.overrides ?? {})) {
    const pin = pins.get(name);
    if (pin === undefined || pin.reason === '') {
      add({ kind: 'pin-without-reason', name, version: JSON.stringify(input.packageJson.overrides?.[name]), runtime: true, fatal: true, detail: 'an override with no reason in docs/dependencies.md' });
    }
  }

  const runtimeVersions: Record<string, string[]> = {};
  for (const pkg of locked) if (pkg.runtime) (runtimeVersions[pkg.name] ??= []).push(pkg.version);
  try {
    const advisories = await input.advisories(runtimeVersions);
    for (const [name, list] of Object.entries(advisories)) {
      for (const advisory of list) {
        add({ kind: 'advisory', name, version: runtimeVersions[name]?.join(', ') ?? '', runtime: true, fatal: ['high', 'critical'].includes(advisory.severity), detail: `${advisory.severity}: ${advisory.title}` });
      }
    }
  } catch (err) {
    add({
      kind: 'advisories-not-checked',
      name: '(all)',
      version: '',
      runtime: true,
      detail: `npm's advisory endpoint did not answer (${err instanceof Error ? err.message : String(err)}): known vulnerabilities were NOT checked by this run`,
    });
  }

  return { findings, packages: locked.length, failed: findings.some((finding) => finding.fatal) };
}

export interface HttpLookupOptions {
  readonly registry: string;
  readonly timeoutMs?: number;
}

/**
 * The registry's abbreviated package document (the one `npm install` reads), one request
 * per name per run: the promise is cached, so concurrent callers share it.
 */
export function httpRegistryLookup(options: HttpLookupOptions): RegistryLookup {
  const cache = new Map<string, Promise<RegistryPackage>>();
  const base = options.registry.endsWith('/') ? options.registry : `${options.registry}/`;
  const timeoutMs = options.timeoutMs ?? 15_000;
  return (name) => {
    let pending = cache.get(name);
    if (pending === undefined) {
      pending = (async () => {
        // A scoped name keeps its @ and encodes its slash, as npm does.
        const response = await fetch(`${base}${name.replace('/', '%2f')}`, {
          headers: { accept: 'application/vnd.npm.install-v1+json' },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (!response.ok) throw new Error(`HTTP ${response.status} for ${name}`);
        const body = (await response.json()) as { 'dist-tags'?: { latest?: string }; versions?: Record<string, { deprecated?: unknown }> };
        const latest = body['dist-tags']?.latest;
        if (typeof latest !== 'string') throw new Error(`no latest version for ${name}`);
        const deprecated: Record<string, string> = {};
        for (const [version, meta] of Object.entries(body.versions ?? {})) {
          if (typeof meta.deprecated === 'string' && meta.deprecated !== '') deprecated[version] = meta.deprecated;
        }
        return { latest, deprecated };
      })();
      cache.set(name, pending);
    }
    return pending;
  };
}

/** npm's bulk advisory endpoint (what `npm audit` uses). */
export function httpAdvisoryLookup(options: HttpLookupOptions): AdvisoryLookup {
  const base = options.registry.endsWith('/') ? options.registry : `${options.registry}/`;
  return async (versions) => {
    const response = await fetch(`${base}-/npm/v1/security/advisories/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(versions),
      signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = (await response.json()) as Record<string, { title?: string; severity?: string }[]>;
    const out: Record<string, { title: string; severity: string }[]> = {};
    for (const [name, list] of Object.entries(body)) out[name] = list.map((a) => ({ title: a.title ?? '(untitled)', severity: a.severity ?? 'unknown' }));
    return out;
  };
}

const ORDER: readonly FindingKind[] = ['registry-unreachable', 'advisories-not-checked', 'advisory', 'deprecated', 'install-script', 'pin-without-reason', 'stale-pin-reason', 'majors-behind', 'update-available'];

/** The report as text: fatal findings first, each line naming the package and what to do. */
export function formatReport(report: Report): string {
  const lines = [`deps:check: ${report.packages} locked packages`];
  const sorted = [...report.findings].sort((a, b) => Number(b.fatal) - Number(a.fatal) || ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind) || a.name.localeCompare(b.name));
  for (const f of sorted) {
    const where = f.runtime ? 'runtime' : 'dev';
    lines.push(`${f.fatal ? 'FAIL' : 'note'}  ${f.kind.padEnd(22)} ${f.name}${f.version === '' ? '' : `@${f.version}`} (${where}): ${f.detail}`);
  }
  const fatal = report.findings.filter((f) => f.fatal).length;
  const unchecked = report.findings.some((f) => f.kind === 'advisories-not-checked') ? '; known vulnerabilities NOT checked (advisory endpoint unreachable)' : '';
  lines.push(report.failed ? `deps:check FAILED: ${fatal} finding(s) must be fixed${unchecked}` : `deps:check passed (${report.findings.length} note(s))${unchecked}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      root: { type: 'string', default: '.' },
      registry: { type: 'string', default: process.env.npm_config_registry ?? 'https://registry.npmjs.org/' },
      'timeout-ms': { type: 'string', default: '15000' },
      concurrency: { type: 'string', default: '8' },
    },
  });
  const root = resolve(values.root);
  const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(join(root, file), 'utf8')) as T;
  const timeoutMs = Number(values['timeout-ms']);
  const report = await checkDependencies({
    packageJson: await readJson<PackageJson>('package.json'),
    lockfile: await readJson<Lockfile>('package-lock.json'),
    pinTable: await readFile(join(root, 'docs/dependencies.md'), 'utf8').catch(() => ''),
    lookup: httpRegistryLookup({ registry: values.registry, timeoutMs }),
    advisories: httpAdvisoryLookup({ registry: values.registry, timeoutMs: Math.min(timeoutMs, 5_000) }),
    concurrency: Number(values.concurrency),
  });
  console.log(formatReport(report));
  process.exitCode = report.failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
