'use strict';
// List correctness on the in-process memory store (see suite-lists.js).
require('./suite-lists')('memory');
