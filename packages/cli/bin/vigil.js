#!/usr/bin/env node
// The built CLI; `npm run build` (tsc -b) produces dist/.
import '../dist/main.js';
