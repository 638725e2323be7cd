// A vitest reporter that prints, after the run's summary, which groups were skipped and why: the
// notes of tests skipped with context.skip(note) (describeWith in test/servers.ts, the runtime
// smoke tests), grouped by reason. Tests skipped without a note are only counted.
import path from 'node:path';
import type { Reporter, TestModule, Vitest } from 'vitest/node';

export default class SkipReasonsReporter implements Reporter {
  private root = process.cwd();
  private log: (text: string) => void = (text) => process.stdout.write(`${text}\n`);

  onInit(vitest: Vitest): void {
    this.root = vitest.config.root;
    this.log = (text) => vitest.logger.log(text);
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byReason = new Map<string, string[]>();
    let withoutNote = 0;
    for (const module of testModules) {
      const file = path.relative(this.root, module.moduleId);
      for (const test of module.children.allTests('skipped')) {
        const result = test.result();
        const note = result.state === 'skipped' ? result.note : undefined;
        if (!note) {
          withoutNote += 1;
          continue;
        }
        const where = [file, ...test.fullName.split(' > ').slice(0, -1)].join(' › ');
        byReason.set(note, [...(byReason.get(note) ?? []), where]);
      }
    }
    if (byReason.size === 0) return;
    const lines = [
      '',
      'Skipped here, and why (under CI=true a missing server, browser or runtime fails instead):',
    ];
    for (const [reason, places] of byReason) {
      lines.push(`  ${reason}`);
      for (const place of places) lines.push(`    - ${place}`);
    }
    if (withoutNote > 0) lines.push(`  (and ${withoutNote} tests skipped by the tests themselves)`);
    this.log(lines.join('\n'));
  }
}
