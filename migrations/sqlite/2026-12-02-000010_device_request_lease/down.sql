DROP TABLE device_request_lease;
