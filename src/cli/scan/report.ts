import { CATEGORIES, type Category, type ScanFinding, type Severity, severityRank } from './findings.js';
import type { ScanResult } from './scan.js';

export type Grade = 'A' | 'B' | 'C' | 'D' | 'F';

/**
 * A: nothing above info. B: low findings only. C: one medium. D: several mediums.
 * F: anything high. Info findings never lower a grade.
 */
export function grade(findings: readonly ScanFinding[]): Grade {
  if (findings.some((f) => f.severity === 'high')) return 'F';
  const mediums = findings.filter((f) => f.severity === 'medium').length;
  if (mediums > 1) return 'D';
  if (mediums === 1) return 'C';
  return findings.some((f) => f.severity === 'low') ? 'B' : 'A';
}

export interface CategoryReport {
  readonly category: Category;
  /** null: the scan could not test this category (plain HTTP on loopback for TLS; no --probe-rate-limit). */
  readonly grade: Grade | null;
  readonly counts: Readonly<Record<Severity, number>>;
  readonly notes: readonly string[];
}

export interface ScanReport {
  readonly target: string;
  readonly scannedAt: string;
  readonly grade: Grade;
  readonly categories: readonly CategoryReport[];
  readonly findings: readonly ScanFinding[];
  readonly requests: ScanResult['requests'];
  readonly handshakes: readonly string[];
}

function counts(findings: readonly ScanFinding[]): Record<Severity, number> {
  const result: Record<Severity, number> = { info: 0, low: 0, medium: 0, high: 0 };
  for (const finding of findings) result[finding.severity] += 1;
  return result;
}

export function buildReport(result: ScanResult): ScanReport {
  const categories = CATEGORIES.map((category): CategoryReport => {
    const own = result.findings.filter((f) => f.category === category);
    const isTested = result.tested.has(category) || (category === 'scan' && own.length > 0);
    return { category, grade: isTested ? grade(own) : null, counts: counts(own), notes: result.notes.get(category) ?? [] };
  }).filter((c) => c.category !== 'scan' || c.grade !== null);
  return { target: result.target, scannedAt: result.scannedAt, grade: grade(result.findings), categories, findings: result.findings, requests: result.requests, handshakes: result.handshakes };
}

/** True when a finding at or above `threshold` exists: the command then exits 1. */
export function failsAt(report: ScanReport, threshold: Severity): boolean {
  return report.findings.some((f) => severityRank(f.severity) >= severityRank(threshold));
}

const NOT_TESTED: Partial<Record<Category, string>> = {
  tls: 'not tested (plain HTTP on a loopback address)',
  'rate-limit': 'not tested (opt in with --probe-rate-limit)',
};

/** The deploy checks' layout (`ID [severity] subject: reason` / `fix:`), with the evidence and where it was seen. */
export function formatScanFinding(finding: ScanFinding): string {
  const where = finding.where.length > 4 ? `${finding.where.slice(0, 4).join('; ')}; and ${finding.where.length - 4} more` : finding.where.join('; ');
  return `${finding.id} [${finding.severity}] ${finding.subject}: ${finding.reason}\n    evidence: ${finding.evidence}\n    seen on: ${where}\n    fix: ${finding.fix}`;
}

export function formatReport(report: ScanReport): string {
  const lines = [`rampart scan ${report.target}`, `${report.scannedAt} · ${report.requests.length} HTTP requests · ${report.handshakes.length} TLS handshakes`, '', `Overall grade: ${report.grade}`, ''];
  for (const c of report.categories) {
    const tally = (['high', 'medium', 'low', 'info'] as const).filter((s) => c.counts[s] > 0).map((s) => `${c.counts[s]} ${s}`).join(', ');
    const summary = c.grade === null ? (NOT_TESTED[c.category] ?? 'not tested') : tally === '' ? 'no findings' : tally;
    lines.push(`  ${c.category.padEnd(13)} ${c.grade ?? '-'}  ${summary}`);
    for (const text of c.notes) lines.push(`  ${''.padEnd(13)}    note: ${text}`);
  }
  lines.push('');
  if (report.findings.length === 0) lines.push('No findings.');
  else {
    lines.push(`Findings (${report.findings.length}):`, '');
    for (const finding of report.findings) lines.push(formatScanFinding(finding), '');
  }
  if (report.handshakes.length > 0) {
    lines.push('TLS handshakes:');
    for (const text of report.handshakes) lines.push(`  ${text}`);
  }
  return lines.join('\n').trimEnd();
}
