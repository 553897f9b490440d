// What require('node-nccl') gets on a Node.js that cannot require() ES modules (before 20.19 and
// 22.12, or with --no-experimental-require-module). node-nccl is an ES module; where Node.js can
// require ES modules, package.json's "module-sync" condition hands require() the real package.
'use strict';
const err = new Error(
  `node-nccl is an ES module, and this Node.js (${process.version}) cannot load ES modules with require(). ` +
    "Use `const { dist, tensor } = await import('node-nccl')` (from CommonJS too), or Node.js >= 20.19 or >= 22.12, " +
    "where require('node-nccl') works.",
);
err.code = 'ERR_REQUIRE_ESM';
throw err;
