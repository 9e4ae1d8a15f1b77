#!/usr/bin/env node
// Validates Backstage entities with Backstage's own @backstage/catalog-model (and the AiModelServerAPI kind of the
// RHDH model-catalog module 1.1.0), the way the catalog accepts or rejects them.
//
//   node validate-entities.js [--json] [FILE]        (reads stdin when FILE is absent or "-")
//
// Input, detected from its content:
//   - a JSON array of entities (objects with `kind`), or one entity;
//   - a JSON array of model-catalog documents (objects with `models`/`modelServer`), or one document: each is turned
//     into the entities the Backstage providers derive from it (0.7.0 mapping: Resource per model, Component and API
//     for the modelServer; 1.1.0: the module's own generator, one AiModelServerAPI when deployed), then validated;
//   - multi-document YAML (catalog-info.yaml), each document an entity.
// Output: one line per entity, `OK   <origin> <kind> <name>` or `FAIL <origin> <kind> <name> - <reason>`
// (`--json`: one JSON object per line instead). Exit code 1 when any entity fails, 2 on unreadable input.
'use strict';

const fs = require('fs');
const path = require('path');
const YAML = require('yaml');
const cm = require('@backstage/catalog-model');

const MODULE_DIR = path.dirname(
  require.resolve('@red-hat-developer-hub/backstage-plugin-catalog-backend-module-model-catalog/package.json'),
);
// The module's package index does not export its generator; load the compiled file so the 1.1.0 behaviour is exact.
const { GenerateCatalogEntities } = require(path.join(MODULE_DIR, 'dist/clients/ModelCatalogGenerator.cjs.js'));
const { aiModelServerApiEntityValidator } = require('@red-hat-developer-hub/backstage-plugin-catalog-model-ai-model-server');

const policy = cm.EntityPolicies.allOf([
  new cm.DefaultNamespaceEntityPolicy(),
  new cm.NoForeignRootFieldsEntityPolicy(),
  new cm.FieldFormatEntityPolicy(),
  new cm.SchemaValidEntityPolicy(),
]);
const kindValidators = [
  cm.componentEntityV1alpha1Validator,
  cm.resourceEntityV1alpha1Validator,
  cm.apiEntityV1alpha1Validator,
  cm.systemEntityV1alpha1Validator,
  cm.domainEntityV1alpha1Validator,
  cm.locationEntityV1alpha1Validator,
  cm.userEntityV1alpha1Validator,
  cm.groupEntityV1alpha1Validator,
  aiModelServerApiEntityValidator,
];
// spec fields holding entity references, with the kind the catalog assumes when the reference names none.
const REF_FIELDS = {
  owner: 'group',
  system: 'system',
  domain: 'domain',
  subcomponentOf: 'component',
  dependsOn: undefined,
  dependencyOf: undefined,
  providesApis: 'api',
  consumesApis: 'api',
  apiEntityRef: 'api',
};

// ---- 0.7.0 mapping of a model-catalog document to entities (reimplemented from the behaviour description) ----
const noSpace = s => String(s).replace(/\s/g, '');
const goodTags = tags => (tags || []).map(noSpace).filter(t => cm.makeValidator().isValidTag(t));

function entitiesV070(doc) {
  const out = [];
  const server = doc.modelServer;
  for (const model of doc.models || []) {
    const links = [];
    if (model.artifactLocationURL) links.push({ title: 'Artifact Location', url: model.artifactLocationURL });
    if (model.howToUseURL) links.push({ title: 'How to use', url: model.howToUseURL });
    if (model.license) links.push({ title: 'License', url: model.license });
    const annotations = {};
    for (const [key, value] of Object.entries(model.annotations || {})) {
      if (key === 'TechDocs') {
        if (String(value).trim()) annotations['backstage.io/techdocs-ref'] = `url:${String(value).trim()}`;
      } else {
        annotations[key] = value;
      }
    }
    const metadata = { name: noSpace(model.name), description: `${model.description}`, tags: goodTags(model.tags), links };
    if (Object.keys(annotations).length) metadata.annotations = annotations;
    out.push({
      apiVersion: 'backstage.io/v1beta1',
      kind: 'Resource',
      metadata,
      spec: {
        owner: `user:${model.owner}`,
        type: 'ai-model',
        dependencyOf: server ? [`component:${noSpace(server.name)}`] : [],
      },
    });
  }
  if (server) {
    const auth = server.authentication ? 'auth-required' : 'auth-not-required';
    const links = [];
    if (server.API && server.API.url) links.push({ title: 'API', url: server.API.url });
    if (server.homepageURL) links.push({ title: 'Homepage', url: server.homepageURL });
    const annotations = { ...((server.API && server.API.annotations) || {}), ...(server.annotations || {}) };
    const metadata = {
      name: noSpace(server.name),
      description: server.description,
      tags: [...goodTags(server.tags), auth],
      links,
    };
    if (server.API?.annotations || server.annotations) metadata.annotations = annotations;
    const spec = {
      type: 'model-server',
      lifecycle: server.lifecycle,
      owner: `user:${server.owner}`,
      dependsOn: (doc.models || []).map(m => `resource:${noSpace(m.name)}`),
    };
    if (server.API) spec.providesApis = [noSpace(server.name)];
    out.push({ apiVersion: 'backstage.io/v1beta1', kind: 'Component', metadata, spec });
    if (server.API) {
      out.push({
        apiVersion: 'backstage.io/v1beta1',
        kind: 'API',
        metadata: {
          name: noSpace(server.name),
          tags: [...goodTags(server.API.tags), auth],
          links: [{ url: server.API.url, title: 'API' }],
        },
        spec: {
          type: server.API.type,
          owner: `user:${server.owner}`,
          lifecycle: server.lifecycle,
          definition: server.API.spec,
        },
      });
    }
  }
  return out;
}

// ---- validation ----
function checkRefs(entity) {
  const spec = entity.spec || {};
  for (const [field, defaultKind] of Object.entries(REF_FIELDS)) {
    if (spec[field] === undefined) continue;
    for (const ref of [].concat(spec[field])) {
      if (typeof ref !== 'string' || !ref) throw new Error(`spec.${field}: not an entity reference: ${JSON.stringify(ref)}`);
      try {
        cm.parseEntityRef(ref, { defaultKind: defaultKind || 'component', defaultNamespace: 'default' });
      } catch (err) {
        throw new Error(`spec.${field}: ${err.message}`);
      }
    }
  }
}

async function validate(entity) {
  await policy.enforce(JSON.parse(JSON.stringify(entity)));
  let accepted = false;
  for (const validator of kindValidators) {
    if (await validator.check(entity)) {
      accepted = true;
      break;
    }
  }
  if (!accepted) throw new Error(`no kind validator accepted kind ${entity.kind} (${entity.apiVersion})`);
  checkRefs(entity);
}

function isCatalogDoc(value) {
  return value && typeof value === 'object' && !Array.isArray(value) && !('kind' in value) &&
    ('models' in value || 'modelServer' in value);
}

// [{origin, entity}] from the input text.
function collect(text) {
  const trimmed = text.trim();
  let items;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed);
    items = (Array.isArray(parsed) ? parsed : [parsed]).map((value, i) => ({ origin: `#${i}`, value }));
  } else {
    items = YAML.parseAllDocuments(text).map((doc, i) => {
      if (doc.errors.length) throw new Error(`YAML document ${i}: ${doc.errors[0].message}`);
      return { origin: `#${i}`, value: doc.toJS() };
    }).filter(item => item.value !== null && item.value !== undefined);
  }
  const out = [];
  for (const { origin, value } of items) {
    if (isCatalogDoc(value)) {
      for (const entity of entitiesV070(value)) out.push({ origin: `${origin}/0.7.0`, entity });
      let generated;
      try {
        generated = GenerateCatalogEntities(value, 'http://bridge.invalid');
      } catch (err) {
        out.push({ origin: `${origin}/1.1.0`, entity: null, error: `generator threw: ${err.message}` });
        continue;
      }
      for (const entity of generated) out.push({ origin: `${origin}/1.1.0`, entity });
    } else {
      out.push({ origin, entity: value });
    }
  }
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const file = args.filter(a => a !== '--json')[0];
  let items;
  try {
    const text = !file || file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
    items = collect(text);
  } catch (err) {
    console.error(`unreadable input: ${err.message}`);
    process.exit(2);
  }
  let failures = 0;
  for (const { origin, entity, error: early } of items) {
    const kind = entity && entity.kind;
    const name = entity && entity.metadata && entity.metadata.name;
    let error = early;
    if (!error) {
      try {
        if (!entity || typeof entity !== 'object') throw new Error('not an object');
        await validate(entity);
      } catch (err) {
        error = err.message;
      }
    }
    if (error) failures++;
    if (asJson) {
      console.log(JSON.stringify({ ok: !error, origin, kind, name, error: error || null }));
    } else {
      console.log(error ? `FAIL ${origin} ${kind} ${name} - ${error}` : `OK   ${origin} ${kind} ${name}`);
    }
  }
  process.exit(failures ? 1 : 0);
}

main();
