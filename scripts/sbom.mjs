#!/usr/bin/env node
// `npm run sbom`: the software bill of materials, as CycloneDX JSON from npm's own `npm sbom`
// read from package-lock.json, written to sbom.cdx.json (or the path given as the first
// argument). Every locked package is listed; development packages carry scope "optional",
// what ships carries "required" (or "optional" for an optional package, such as another
// platform's prebuilt binary). The file is then read back and checked: it must parse as
// CycloneDX and list every runtime package of the lockfile, at its locked version, as
// required, or the command fails. (`--omit dev` is not used: npm 11 then leaves out runtime
// packages that dev packages also depend on, such as semver and xtend, which this check caught.)
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const out = process.argv[2] ?? 'sbom.cdx.json';
// Under `npm run`, npm_execpath is the npm that runs us; call that same npm.
const npm = process.env.npm_execpath;
const [command, prefix] = npm === undefined ? ['npm', []] : [process.execPath, [npm]];
const { stdout } = await promisify(execFile)(command, [...prefix, 'sbom', '--sbom-format', 'cyclonedx', '--package-lock-only'], { maxBuffer: 64 * 1024 * 1024 });
await writeFile(out, stdout);

const bom = JSON.parse(await readFile(out, 'utf8'));
const lock = JSON.parse(await readFile('package-lock.json', 'utf8'));
const problems = [];
if (bom.bomFormat !== 'CycloneDX' || typeof bom.specVersion !== 'string' || !Array.isArray(bom.components)) {
  problems.push('not a CycloneDX document with components');
}
const listed = new Map((bom.components ?? []).map((c) => [`${c.group ? `${c.group}/` : ''}${c.name}@${c.version}`, c.scope]));
let runtime = 0;
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (path === '' || entry.link === true || entry.dev === true || entry.version === undefined) continue;
  runtime += 1;
  const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  const scope = listed.get(`${name}@${entry.version}`);
  if (scope === undefined) problems.push(`${name}@${entry.version} is a runtime package of the lockfile but not in the SBOM`);
  // Optional packages (another platform's prebuilt binary, an optional peer) are optional in the SBOM too.
  else if (scope !== (entry.optional === true ? 'optional' : 'required')) problems.push(`${name}@${entry.version} is a runtime package of the lockfile but the SBOM gives it scope ${scope}`);
}
if (runtime === 0) problems.push('the lockfile lists no runtime packages');
if (problems.length > 0) {
  console.error(`✖ ${out}:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`${out}: CycloneDX ${bom.specVersion}, ${bom.components.length} components, every one of the lockfile's ${runtime} runtime packages listed with their scope`);
