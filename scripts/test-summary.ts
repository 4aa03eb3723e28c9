// Prints one closing line for the whole suite from jest's JSON reports: "N passed, N failed, N skipped".
import { existsSync, readFileSync } from 'node:fs';

interface JestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numRuntimeErrorTestSuites: number;
}

let passed = 0;
let failed = 0;
let skipped = 0;
for (const project of process.argv.slice(2)) {
  const file = `dist/test-results/${project}.json`;
  if (!existsSync(file)) {
    console.log(`${project}: no report (${file})`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8')) as JestReport;
  const suiteErrors = r.numRuntimeErrorTestSuites;
  console.log(
    `${project}: ${r.numPassedTests} passed, ${r.numFailedTests + suiteErrors} failed, ${r.numPendingTests + r.numTodoTests} skipped`,
  );
  passed += r.numPassedTests;
  failed += r.numFailedTests + suiteErrors;
  skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
