import { defineModule } from '../../kernel/module.js';
import { systemRoutes } from './routes.js';

/** Liveness, readiness, security.txt and the public status route. */
export const systemModule = defineModule({
  name: 'system',
  async plugin(app) {
    const { config, database, store } = app;
    await app.register(systemRoutes, {
      publicUrl: config.publicUrl,
      alsoServedAt: app.loopbackOrigins,
      securityContacts: config.securityTxt.contacts,
      securityTxtExpires: config.securityTxt.expires,
      ready: async () => {
        await Promise.all([database.ping(), store.ping()]);
      },
    });
  },
});
