'use strict';
// Isolation matrix on the in-process memory store (see suite-isolation.js).
require('./suite-isolation')('memory');
