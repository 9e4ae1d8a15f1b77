#!/usr/bin/env node
// A minimal Backstage backend for modelreg's end-to-end tests: the catalog, the RHDH model-catalog module 1.1.0 with
// its AiModelServerAPI kind registered, and the unprocessed-entities module (processing errors over HTTP).
//   node index.js --config app-config.yaml [--config app-config.model-catalog.yaml] [--config more.yaml]
// Plain CommonJS, so no TypeScript build step is needed.
'use strict';

const { createBackend } = require('@backstage/backend-defaults');
const { provideStaticCatalogModel } = require('@backstage/plugin-catalog-node/alpha');
const { aiModelServerApiEntityModel } = require('@red-hat-developer-hub/backstage-plugin-catalog-model-ai-model-server');

const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend').default);
backend.add(require('@red-hat-developer-hub/backstage-plugin-catalog-backend-module-model-catalog').default);
backend.add(provideStaticCatalogModel({ layers: [aiModelServerApiEntityModel] }));
backend.add(require('@backstage/plugin-catalog-backend-module-unprocessed').default);
backend.start().catch(err => {
  console.error(err);
  process.exit(1);
});
