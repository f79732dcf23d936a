INSERT INTO people (name, born) VALUES ('Ada', '1815-12-10'), ('Grace', '1906-12-09');
