// A 5-field cron expression in words, for people: "at 09:00, Monday to Friday". Only shapes people write
// are put in words; anything else gives null and the page shows the expression alone. The daemon is the
// judge of what an expression means (docs/design/CRON.md); this only reads it aloud.

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];
const DAY_NAMES = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const MONTH_NAMES = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 };

// One number of a field, or a name ("mon", "jan"); NaN when neither.
function value(text, names) {
  const lower = text.toLowerCase();
  if (names && lower in names) return names[lower];
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

// A list of single values and ranges ("1-5,7"), as [[from, to], ...]; null for steps or anything else.
function ranges(field, names) {
  const out = [];
  for (const part of field.split(',')) {
    const [from, to, extra] = part.split('-');
    if (extra !== undefined) return null;
    const a = value(from, names);
    const b = to === undefined ? a : value(to, names);
    if (Number.isNaN(a) || Number.isNaN(b) || b < a) return null;
    out.push([a, b]);
  }
  return out;
}

function join(words) {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function daysOfWeek(field) {
  const list = ranges(field, DAY_NAMES);
  if (!list) return null;
  const name = (d) => DAYS[d % 7];
  return join(list.map(([a, b]) => (a === b ? name(a) : `${name(a)} to ${name(b)}`)));
}

function months(field) {
  const list = ranges(field, MONTH_NAMES);
  if (!list || list.some(([a, b]) => a < 1 || b > 12)) return null;
  return join(list.map(([a, b]) => (a === b ? MONTHS[a - 1] : `${MONTHS[a - 1]} to ${MONTHS[b - 1]}`)));
}

function two(n) {
  return String(n).padStart(2, '0');
}

function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return `${n}${{ 1: 'st', 2: 'nd', 3: 'rd' }[n % 10] ?? 'th'}`;
}

// The time part: "every minute", "every 15 minutes", "every hour at minute 5", "at 09:00", "at 09:00 and 17:30".
function timeOfDay(minute, hour) {
  const step = /^\*\/(\d+)$/.exec(minute);
  if (hour === '*') {
    if (minute === '*') return 'every minute';
    if (step) return `every ${step[1]} minutes`;
    const m = value(minute);
    return Number.isNaN(m) || m > 59 ? null : `every hour at minute ${m}`;
  }
  const m = value(minute);
  const hours = ranges(hour);
  if (Number.isNaN(m) || m > 59 || !hours || hours.some(([, b]) => b > 23)) return null;
  if (hours.length === 1 && hours[0][0] !== hours[0][1]) {
    const [a, b] = hours[0];
    return `every hour from ${two(a)}:${two(m)} to ${two(b)}:${two(m)}`;
  }
  if (hours.some(([a, b]) => a !== b)) return null;
  return `at ${join(hours.map(([a]) => `${two(a)}:${two(m)}`))}`;
}

export function cronInWords(expression) {
  const fields = String(expression).trim().split(/\s+/);
  if (fields.length !== 5) return null;
  const [minute, hour, dayOfMonth, month, dayOfWeek] = fields;
  const time = timeOfDay(minute, hour);
  if (!time) return null;
  const parts = [time];
  if (dayOfMonth !== '*') {
    const days = ranges(dayOfMonth);
    if (!days || days.some(([a, b]) => a < 1 || b > 31)) return null;
    parts.push(`on the ${join(days.map(([a, b]) => (a === b ? ordinal(a) : `${ordinal(a)} to ${ordinal(b)}`)))}`);
  }
  if (month !== '*') {
    const names = months(month);
    if (!names) return null;
    parts.push(`in ${names}`);
  }
  if (dayOfWeek !== '*') {
    const names = daysOfWeek(dayOfWeek);
    if (!names) return null;
    // POSIX: with both day fields restricted, a day matching either one fires.
    parts.push(dayOfMonth !== '*' ? `or on ${names}` : `on ${names}`);
  } else if (dayOfMonth === '*' && month === '*' && hour !== '*') {
    parts.push('every day');
  }
  return parts.join(' ');
}
