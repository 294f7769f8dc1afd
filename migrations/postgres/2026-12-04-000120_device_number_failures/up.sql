-- Wrong numbers chosen on a device (number matching), counted apart from
-- wrong PINs: three in a row lock the device as three wrong PINs do; a
-- successful approval resets both counts (device::challenge::pin_outcome).
ALTER TABLE devices ADD COLUMN number_failures INTEGER NOT NULL DEFAULT 0;
