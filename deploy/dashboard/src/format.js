// Formatting for people: money from int64 minor units (JSON strings, exact through BigInt)
// in the tenant's currency, counts with separators, rates as percentages, and "–" for a
// value the API leaves absent (an undefined rate is never shown as 0).

const LOCALE = 'en-US';

export const ABSENT = '–';

// Decimal places of `currency` (USD 2, JPY 0, KWD 3), as ISO 4217 and Intl know them.
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat(LOCALE, { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

function toBigInt(v) {
  if (v === null || v === undefined || v === '') return null;
  try {
    return BigInt(v);
  } catch {
    return null;
  }
}

// "123456" (minor units) in USD → "$1,234.56"; exact for any int64.
export function money(minor, currency) {
  let v = toBigInt(minor);
  if (v === null) return ABSENT;
  const digits = currencyDigits(currency);
  const negative = v < 0n;
  if (negative) v = -v;
  const scale = 10n ** BigInt(digits);
  const whole = v / scale;
  const fraction = v % scale;
  let parts;
  try {
    parts = new Intl.NumberFormat(LOCALE, {
      style: 'currency', currency, minimumFractionDigits: 0, maximumFractionDigits: 0,
    }).formatToParts(whole);
  } catch {
    parts = [{ type: 'integer', value: whole.toString() }, { type: 'literal', value: ` ${currency}` }];
  }
  let out = '';
  let placed = false;
  for (let i = 0; i < parts.length; i++) {
    out += parts[i].value;
    const next = parts[i + 1];
    if (!placed && parts[i].type === 'integer' && (!next || (next.type !== 'group' && next.type !== 'integer'))) {
      if (digits > 0) out += `.${fraction.toString().padStart(digits, '0')}`;
      placed = true;
    }
  }
  return negative ? `-${out}` : out;
}

// Minor units as a plain number of major units, for plotting only (never for display).
export function major(minor, currency) {
  const v = toBigInt(minor);
  if (v === null) return null;
  return Number(v) / 10 ** currencyDigits(currency);
}

export function count(v) {
  const n = toBigInt(v);
  return n === null ? ABSENT : new Intl.NumberFormat(LOCALE).format(n);
}

// A rate in [0, 1] (or more, for NRR) as "12.34%".
export function percent(v) {
  return v === null || v === undefined ? ABSENT : `${(v * 100).toFixed(2)}%`;
}

export function ratio(v) {
  return v === null || v === undefined ? ABSENT : `${v.toFixed(2)}×`;
}

export function months(v) {
  return v === null || v === undefined ? ABSENT : `${v.toFixed(1)} mo`;
}

// An axis tick: major units, compact ("$1.2M").
export function compactMoney(value, currency) {
  try {
    return new Intl.NumberFormat(LOCALE, { style: 'currency', currency, notation: 'compact', maximumFractionDigits: 1 }).format(value);
  } catch {
    return String(value);
  }
}
