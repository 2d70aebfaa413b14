// The console's schedule in words (control/console/cron_words.js): the shapes people write read aloud,
// anything else left to the expression itself (null).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cronInWords } from '../../control/console/cron_words.js';

test('common schedules in words', () => {
  const cases = {
    '0 9 * * 1-5': 'at 09:00 on Monday to Friday',
    '30 7 * * *': 'at 07:30 every day',
    '0 9,17 * * *': 'at 09:00 and 17:00 every day',
    '0 8-18 * * mon-fri': 'every hour from 08:00 to 18:00 on Monday to Friday',
    '* * * * *': 'every minute',
    '*/15 * * * *': 'every 15 minutes',
    '5 * * * *': 'every hour at minute 5',
    '0 6 1 * *': 'at 06:00 on the 1st',
    '0 6 1,15 * *': 'at 06:00 on the 1st and 15th',
    '0 0 * jan *': 'at 00:00 in January',
    '0 0 1 1 *': 'at 00:00 on the 1st in January',
    '0 12 13 * 5': 'at 12:00 on the 13th or on Friday',
    '0 10 * * 0,6': 'at 10:00 on Sunday and Saturday',
    '0 10 * * 7': 'at 10:00 on Sunday',
    '0 3 22 12 *': 'at 03:00 on the 22nd in December',
    '0 3 11-13 * *': 'at 03:00 on the 11th to 13th',
  };
  for (const [expression, words] of Object.entries(cases)) assert.equal(cronInWords(expression), words, expression);
});

test('anything else is left to the expression', () => {
  for (const expression of ['*/5 9-17 * * *', '0 */2 * * *', '0 9 * * 1/2', '60 9 * * *', '0 24 * * *', '0 9 32 * *',
                            '0 9 * 13 *', '0 9 * *', 'a b c d e', '', '0 9 5-1 * *']) {
    assert.equal(cronInWords(expression), null, expression);
  }
});
