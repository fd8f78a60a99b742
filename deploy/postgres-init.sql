-- Roles and databases for the fleet's catalogue and the reference target.
CREATE ROLE chaosfleet LOGIN PASSWORD 'chaosfleet' CREATEDB;
CREATE DATABASE chaosfleet OWNER chaosfleet;
CREATE ROLE reftarget LOGIN PASSWORD 'reftarget';
CREATE DATABASE reftarget OWNER reftarget;
