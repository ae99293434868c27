import type { ProcedureScenario } from '../harness.js';
import { loginFloodScenario } from './login-flood.js';
import { sanitizeScenario } from './sanitize.js';

/**
 * The benchmarks that are not the request-path matrix (`matrix.ts`): each drives its own
 * load and has its own target. Names must be unique.
 */
export const procedures: readonly ProcedureScenario[] = [loginFloodScenario, sanitizeScenario];
