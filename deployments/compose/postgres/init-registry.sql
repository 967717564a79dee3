-- Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
-- Apicurio Registry keeps its schemas in a database of its own next to the read model's, so
-- schema ids survive a restart (records on the topics carry those ids).
CREATE DATABASE registry OWNER shop;
