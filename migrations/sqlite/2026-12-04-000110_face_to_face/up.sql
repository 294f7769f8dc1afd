-- A face-to-face request whose citizen cannot get about: a postman visits
-- them at home (the console and `idp-admin requests --home-visit` list them).
ALTER TABLE verification_requests ADD COLUMN home_visit BOOLEAN NOT NULL DEFAULT FALSE;
