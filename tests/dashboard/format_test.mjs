// The dashboard's formatting, without a browser: exact money in any currency's minor
// units, and absent values as "–" (never 0).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ABSENT, count, currencyDigits, major, money, percent, ratio,
} from '../../deploy/dashboard/src/format.js';

test('money is exact from int64 minor units, in each currency\'s exponent', () => {
  assert.equal(money('123456', 'USD'), '$1,234.56');
  assert.equal(money('-5', 'USD'), '-$0.05');
  assert.equal(money('0', 'USD'), '$0.00');
  assert.equal(money('1234', 'JPY'), '¥1,234');
  assert.equal(money('1234567', 'KWD'), 'KWD\u00a01,234.567');
  assert.equal(money('100', 'EUR'), '€1.00');
  // Beyond 2^53: exact through BigInt, where a float would round.
  assert.equal(money('9007199254740993', 'USD'), '$90,071,992,547,409.93');
  assert.equal(money('-9223372036854775808', 'USD'), '-$92,233,720,368,547,758.08');
  assert.deepEqual([currencyDigits('USD'), currencyDigits('JPY'), currencyDigits('KWD')], [2, 0, 3]);
});

test('absent values are a dash, never zero', () => {
  for (const v of [null, undefined, '']) {
    assert.equal(money(v, 'USD'), ABSENT);
    assert.equal(count(v), ABSENT);
    assert.equal(major(v, 'USD'), null);
  }
  assert.equal(percent(null), ABSENT);
  assert.equal(ratio(undefined), ABSENT);
  assert.equal(percent(0), '0.00%');
  assert.equal(percent(0.4048), '40.48%');
  assert.equal(ratio(7.0913), '7.09×');
  assert.equal(count('1234567'), '1,234,567');
  assert.equal(major('123456', 'USD'), 1234.56);
  assert.equal(major('1234', 'JPY'), 1234);
});
