#!/usr/bin/env node
"use strict";
// stderr carries JSON log lines: keep the AWS SDK's multi-line Node 20 deprecation notice out
// of them (the container image runs a current Node LTS anyway).
if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
}
require("../dist/cli.js").main(process.argv);
