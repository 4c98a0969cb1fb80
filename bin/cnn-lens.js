#!/usr/bin/env node
// The CLI is bundled by `npm run build` into dist/cli.js.
let cli;
try {
  cli = require('../dist/cli.js');
} catch (error) {
  console.error('cnn-lens: dist/cli.js is missing; run "npm run build" in the CNN Lens folder first.');
  process.exit(1);
}
// As dist/cli.js does when run directly: Ctrl-C and kills remove the engine's temporary files.
cli.removeTempFilesOnSignals();
cli.main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
