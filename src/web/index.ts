import { defineModule } from '../kernel/module.js';
import { webPlugin } from './plugin.js';

/**
 * The browser surface: server-rendered pages over the same services as the API, in a scope of
 * their own (the only place urlencoded forms are parsed). Listed last: it uses every module's
 * decorators.
 */
export const webModule = defineModule({
  name: 'web',
  dependencies: ['accounts', 'tokens', 'mfa', 'posts', 'comments', 'admin', 'passkeys', 'alerts'],
  async plugin(app) {
    await app.register(webPlugin, { cacheTemplates: app.config.env !== 'development' });
  },
});
