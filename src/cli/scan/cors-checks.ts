import type { Findings } from './findings.js';
import { header, type ProbeResponse } from './http-client.js';

/** The CORS rules for an answer to a request that carried `Origin: sentOrigin`. */
export function checkCors(findings: Findings, response: ProbeResponse, sentOrigin: string, where: string): void {
  const allowOrigin = header(response.headers, 'access-control-allow-origin')?.trim();
  if (allowOrigin === undefined) return;
  const credentials = header(response.headers, 'access-control-allow-credentials')?.trim().toLowerCase() === 'true';
  const evidence = `Origin: ${sentOrigin} → Access-Control-Allow-Origin: ${allowOrigin}${credentials ? ', Access-Control-Allow-Credentials: true' : ''}`;
  if (allowOrigin === '*') {
    if (credentials) findings.add('RAMPART-SO05', 'Access-Control-Allow-Origin', evidence, where);
    return;
  }
  if (allowOrigin !== sentOrigin) return;
  if (sentOrigin === 'null') findings.add(credentials ? 'RAMPART-SO02' : 'RAMPART-SO04', 'Access-Control-Allow-Origin', evidence, where);
  else findings.add(credentials ? 'RAMPART-SO01' : 'RAMPART-SO03', 'Access-Control-Allow-Origin', evidence, where);
}
