#!/usr/bin/env node
// Runs the bundled resolver tool (bundle/asr.cjs, made by `npm run build`).
require("../bundle/asr.cjs");
