#!/usr/bin/env node
// Runs the bundled daemon (bundle/smtpd.cjs, made by `npm run build`).
require("../bundle/smtpd.cjs");
