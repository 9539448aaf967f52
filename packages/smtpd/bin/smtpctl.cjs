#!/usr/bin/env node
// Runs the bundled smtpctl (bundle/smtpctl.cjs, made by `npm run build`).
require("../bundle/smtpctl.cjs");
