#!/usr/bin/env node
// Runs the bundled smtpctl (bundle/smtpctl.cjs, made by `npm run build`), which is also
// sendmail, send-mail, mailq, newaliases and makemap when run through a link of that name.
require("../bundle/smtpctl.cjs");
