// Renders the metrics service's /v1/daily answer as the Markdown digest (run by digest.sh, in the sandbox).
//
//   node render.mjs DAILY_JSON SOURCE_URL > digest.md
import fs from 'node:fs';

const [file, source] = process.argv.slice(2);
const daily = JSON.parse(fs.readFileSync(file, 'utf8'));

const number = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 2 });
const change = (pct) => `${pct > 0 ? '+' : ''}${number.format(pct)}%`;

const lines = [
  `# Daily digest: ${daily.service}, ${daily.date}`,
  '',
  '| metric | value | vs. the day before |',
  '| --- | ---: | ---: |',
  ...daily.metrics.map((m) => `| ${m.name} | ${number.format(m.value)} | ${change(m.change_pct)} |`),
  '',
  '## Incidents',
  ...(daily.incidents.length
    ? daily.incidents.map((i) => `- ${i.id} (${i.severity}): ${i.title}`)
    : ['- none']),
  '',
  `Source: ${source}, read in session ${process.env.AIRLOCK_SESSION_ID ?? '(unknown)'}.`,
];
process.stdout.write(`${lines.join('\n')}\n`);
