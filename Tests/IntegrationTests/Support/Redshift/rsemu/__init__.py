"""The Redshift emulation's modules (redshift_emulator.py is the entry point; see
docs/redshift-emulation.md).

From the wire to the upstream:

- wire: the protocol 3 message framing (reading, sending, row descriptions and data rows)
- startup: SSL/GSS refusals, the startup message, authentication, the upstream connection
- session: one client session (its main loop and the simple query protocol)
- extended: the extended query protocol (Parse, Bind, Describe, Execute, Close)
- execute: running a plan (virtual functions, TRUNCATE and COMMIT rules, the fault switch,
  CREATE TABLE/ADD COLUMN bookkeeping, ALTER COLUMN TYPE)
- upstream: PostgreSQL results and errors as the client sees them

Statements:

- errors: RsError (the emulation's own errors) and UpstreamError
- sql_text: the tokenizer, statement splitting, quoting, credential masking, token-list helpers
- reserved_words: Redshift's reserved words
- column_types: Redshift's column types and how the upstream stores them
- plan: Plan (what the emulation does with one statement) and the system-name rewrite
- analyze: classifying one statement and its generic refusals
- ddl: CREATE TABLE and ALTER TABLE
- copy_statement: the COPY statement and its options

COPY from S3 and system tables:

- s3_objects: the S3 client and the objects a COPY reads (prefix or manifest)
- csv_load: Redshift-style CSV, value checks and load error codes
- copy_from_s3: running a COPY (load upstream, stl_load_errors on failure)
- system_schema: the upstream schema behind stl_load_errors, pg_table_def, svv_table_info
- emulator: what the sessions share (counters, statements log, system connections, fault switch)
"""
