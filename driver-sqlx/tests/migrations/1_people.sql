CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    born DATE
);
CREATE INDEX people_name ON people (name);
