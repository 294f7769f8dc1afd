DROP TABLE login_history;
