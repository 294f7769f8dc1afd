DROP TABLE activation_codes;
DROP TABLE agents;
