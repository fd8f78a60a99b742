-- Roles and databases for the fleet's catalogue and the reference target.
CREATE ROLE chaosfleet LOGIN PASSWORD 'chaosfleet' CREATEDB;
CREATE DATABASE chaosfleet OWNER chaosfleet;
-- its own slot limit: the pool-exhaustion fault fills it without touching the catalogue
CREATE ROLE reftarget LOGIN PASSWORD 'reftarget' CONNECTION LIMIT 40;
CREATE DATABASE reftarget OWNER reftarget;
