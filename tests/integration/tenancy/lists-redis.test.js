'use strict';
// List correctness on the Redis store (see suite-lists.js). Skipped, with the reason, while a
// gateway with a `redis:` section cannot record and resolve a sandbox (probe in lib/tenancy.js).
require('./suite-lists')('redis');
