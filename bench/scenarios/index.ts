import type { BenchScenario } from '../harness.js';
import { apiStatusScenario } from './api-status.js';
import { bearerMeScenario } from './bearer-me.js';
import { loginFloodScenario } from './login-flood.js';
import { postsListScenario } from './posts-list.js';
import { sanitizeScenario } from './sanitize.js';

/** Every benchmark, in the order `npm run bench` runs them. Names must be unique. */
export const scenarios: readonly BenchScenario[] = [apiStatusScenario, loginFloodScenario, bearerMeScenario, postsListScenario, sanitizeScenario];
