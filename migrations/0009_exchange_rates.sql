-- Exchange rates (METRICS.md "Currencies"): one unit of `currency` in units of the
-- tenant's reporting currency on `date`, an exact decimal. The rate for a day is the
-- latest dated on or before it. One rate per (currency, date): recording another rate for
-- them replaces it (a correction); recording the same one again changes nothing.
CREATE TABLE exchange_rates (
  tenant_id  text NOT NULL REFERENCES tenants (tenant_id),
  currency   text NOT NULL,
  date       date NOT NULL,
  rate       numeric NOT NULL CHECK (rate > 0),
  PRIMARY KEY (tenant_id, currency, date)
);
