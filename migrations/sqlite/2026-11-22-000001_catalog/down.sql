DROP TABLE read_cache;
DROP TABLE conflicts;
DROP TABLE search;
DROP TABLE relations;
DROP TABLE entities;
DROP TABLE locations;
