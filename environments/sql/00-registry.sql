-- Apicurio Registry 3 keeps its tables in this schema (APICURIO_DATASOURCE_URL ?currentSchema=registry).
CREATE SCHEMA IF NOT EXISTS registry;
