/**
 * A configuration finding: a stable id, the setting it concerns, why it matters and how to
 * fix it. Errors stop a production start; `rampart check --deploy` prints them all.
 */
export interface Finding {
  readonly id: `RAMPART-${'E' | 'W'}${string}`;
  readonly severity: 'error' | 'warning';
  readonly setting: string;
  readonly reason: string;
  readonly fix: string;
}

export function formatFinding(finding: Finding): string {
  return `${finding.id} [${finding.severity}] ${finding.setting}: ${finding.reason}\n    fix: ${finding.fix}`;
}

/** Thrown when Rampart must not start; carries every finding that stopped it. */
export class ConfigError extends Error {
  readonly findings: readonly Finding[];
  constructor(findings: readonly Finding[]) {
    super(`Rampart cannot start with this configuration:\n${findings.map(formatFinding).join('\n')}`);
    this.name = 'ConfigError';
    this.findings = findings;
  }
}
