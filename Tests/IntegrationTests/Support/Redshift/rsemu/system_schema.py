"""The upstream schema behind the emulated system tables (stl_load_errors, pg_table_def,
svv_table_info) and functions (getdate, sysdate, json_parse, from_hex, to_hex, pg_last_copy_id,
pg_last_copy_count), created once in each database."""


EMULATION_SCHEMA_SQL = """
CREATE SCHEMA IF NOT EXISTS redshift_emulation;
CREATE TABLE IF NOT EXISTS redshift_emulation.stl_load_errors (
    userid integer, slice integer, tbl integer, starttime timestamp, session integer,
    query integer, filename character(256), line_number bigint, colname character(127),
    type character(10), col_length character(10), position integer,
    raw_line character(1024), raw_field_value character(1024), err_code integer,
    err_reason character(100), is_partial integer, start_offset bigint);
CREATE TABLE IF NOT EXISTS redshift_emulation.table_attributes (
    relid oid PRIMARY KEY, diststyle text, distkey name, sortkey_kind text, encode_auto boolean);
CREATE TABLE IF NOT EXISTS redshift_emulation.column_attributes (
    relid oid, attnum smallint, encoding text, distkey boolean, sortkey integer,
    declared_type text, PRIMARY KEY (relid, attnum));
CREATE OR REPLACE VIEW redshift_emulation.pg_table_def AS
SELECT n.nspname AS schemaname, c.relname AS tablename, a.attname AS "column",
       COALESCE(ca.declared_type, format_type(a.atttypid, a.atttypmod)) AS type,
       COALESCE(ca.encoding, 'none') AS encoding,
       COALESCE(ca.distkey, false) AS distkey,
       COALESCE(ca.sortkey, 0) AS sortkey,
       a.attnotnull AS notnull
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN redshift_emulation.column_attributes ca ON ca.relid = c.oid AND ca.attnum = a.attnum
WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_emulation', 'pg_toast');
CREATE OR REPLACE VIEW redshift_emulation.svv_table_info AS
SELECT current_database() AS database, n.nspname AS schema, c.oid::integer AS table_id,
       c.relname AS "table",
       CASE COALESCE(ta.diststyle, 'AUTO')
            WHEN 'KEY' THEN 'KEY(' || ta.distkey || ')'
            WHEN 'AUTO' THEN 'AUTO(EVEN)'
            ELSE ta.diststyle END AS diststyle,
       (SELECT a.attname FROM redshift_emulation.column_attributes ca
          JOIN pg_attribute a ON a.attrelid = ca.relid AND a.attnum = ca.attnum
         WHERE ca.relid = c.oid AND ca.sortkey = 1) AS sortkey1,
       ta.sortkey_kind
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN redshift_emulation.table_attributes ta ON ta.relid = c.oid
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'redshift_emulation', 'pg_toast');
CREATE OR REPLACE FUNCTION pg_catalog.getdate() RETURNS timestamp
    LANGUAGE sql STABLE AS $$ SELECT date_trunc('second', now() AT TIME ZONE 'UTC') $$;
CREATE OR REPLACE FUNCTION pg_catalog.sysdate() RETURNS timestamp
    LANGUAGE sql STABLE AS $$ SELECT now() AT TIME ZONE 'UTC' $$;
CREATE OR REPLACE FUNCTION pg_catalog.json_parse(text) RETURNS json
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1::json $$;
CREATE OR REPLACE FUNCTION pg_catalog.from_hex(text) RETURNS bytea
    LANGUAGE sql IMMUTABLE AS $$ SELECT decode($1, 'hex') $$;
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_id(integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE OR REPLACE FUNCTION pg_catalog.pg_last_copy_count(bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE AS $$ SELECT $1 $$;
CREATE OR REPLACE FUNCTION pg_catalog.to_hex(bytea) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT encode($1, 'hex') $$;
"""
