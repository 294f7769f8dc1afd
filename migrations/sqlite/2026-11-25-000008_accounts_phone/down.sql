DROP INDEX accounts_phone;
