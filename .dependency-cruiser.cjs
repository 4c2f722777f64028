// The package graph of sivshm, enforced by dependency-cruiser in `npm run lint`
// (scripts/check-package-graph.mjs runs it on the tree and on a fixture that must fail).
//
//   abi ← core ← {kmod (tests only), transport-ivshmem, discovery} ← runtime ← apps (cli, hostd, demo, gateway)
//
// A workspace may import only workspaces of a lower level, and only by package name
// (`@sivshm/<name>`, which resolves through node_modules to packages/<name>), never by a relative
// path into another workspace's src/ or dist/. Apps never import each other: the CLI's `hostd`
// command starts the daemon as a process it resolves at run time, not as an import. Tests and
// benches may in addition use the private @sivshm/testing workspace; shipped code may not.
'use strict';
const path = require('node:path');

/** Level of each workspace: an import must point strictly downwards (or stay inside). */
const LEVELS = {
  'packages/abi': 0,
  'packages/core': 1,
  'packages/kmod': 2,
  'packages/transport-ivshmem': 2,
  'packages/discovery': 2,
  'packages/runtime': 3,
  'apps/cli': 4,
  'apps/hostd': 4,
  'apps/demo': 4,
  'apps/gateway': 4,
};

/** Files that are tests, benches or their fixtures rather than shipped code. */
const TEST_CODE = '(^[^/]+/[^/]+/(test|bench)/|\\.spec\\.ts$|/fixtures/)';

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const anyOf = (dirs) => `^(${dirs.map(escape).join('|')})/`;

/** One rule per workspace: nothing at its own level or above, other than itself. */
const layerRules = Object.entries(LEVELS).map(([dir, level]) => {
  const notBelow = Object.entries(LEVELS)
    .filter(([other, l]) => other !== dir && l >= level)
    .map(([other]) => other);
  return {
    name: `layer-${dir.split('/')[1]}`,
    comment: `${dir} (level ${level}) may import only workspaces of a lower level`,
    severity: 'error',
    from: { path: `^${escape(dir)}/` },
    to: { path: anyOf(notBelow) },
  };
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'packages-never-import-apps',
      comment: 'apps sit on top; no package, @sivshm/testing included, may depend on one',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
    {
      name: 'no-relative-cross-package',
      comment:
        "another workspace's files are reached only through its package name (@sivshm/<name>), " +
        'never by a relative path into its src/ or dist/',
      severity: 'error',
      from: { path: '^(packages|apps)/([^/]+)/' },
      to: {
        path: '^(packages|apps)/[^/]+/',
        pathNot: '^$1/$2/',
        // A relative specifier ('../../core/src/x.js') is 'local'; '@sivshm/core' is not.
        dependencyTypes: ['local'],
      },
    },
    {
      name: 'testing-only-in-tests',
      comment: '@sivshm/testing serves tests and benches; shipped code must not import it',
      severity: 'error',
      from: { path: '^(packages|apps)/[^/]+/', pathNot: [TEST_CODE, '^packages/testing/'] },
      to: { path: '^packages/testing/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing is either a typo or a missing dependency',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(packages|apps)/[^/]+/(dist|dist-test|build)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: path.join(__dirname, 'tsconfig.base.json') },
    enhancedResolveOptions: {
      // Without `types` (listed first in every workspace's exports, it would pick dist/*.d.ts):
      // `source` resolves @sivshm/<name> to packages/<name>/src, as `npm run test:dev` does.
      exportsFields: ['exports'],
      conditionNames: ['source', 'import', 'default'],
      mainFields: ['module', 'main', 'types'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.cjs', '.d.ts', '.json', '.node'],
    },
  },
};
