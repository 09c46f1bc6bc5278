'use strict';
// Isolation matrix on the Redis store (see suite-isolation.js). Skipped, with the reason, while a
// gateway with a `redis:` section cannot record and resolve a sandbox (probe in lib/tenancy.js).
require('./suite-isolation')('redis');
