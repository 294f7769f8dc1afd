DROP TABLE agent_keys;
