DROP TABLE catalog_version;
DROP TABLE events;
