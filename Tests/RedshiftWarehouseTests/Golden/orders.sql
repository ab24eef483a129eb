CREATE TABLE IF NOT EXISTS "analytics"."_forager_state" (
    "slot" VARCHAR(256) NOT NULL,
    "lsn" BIGINT NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY ("slot")
);

CREATE TABLE IF NOT EXISTS "analytics"."_forager_tables" (
    "slot" VARCHAR(256) NOT NULL,
    "source_schema" VARCHAR(512) NOT NULL,
    "source_table" VARCHAR(512) NOT NULL,
    "state" VARCHAR(16) NOT NULL,
    "synced_lsn" BIGINT,
    "reason" VARCHAR(65535),
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY ("slot", "source_schema", "source_table")
);

CREATE TABLE "analytics"."orders" (
    "id" INTEGER NOT NULL,
    "note" VARCHAR(65535),
    "amount" DECIMAL(12,4),
    "doc" SUPER,
    "blob" VARBYTE(1024000),
    "at" TIMESTAMPTZ,
    "tags" VARCHAR(65535),
    "_forager_lsn" BIGINT NOT NULL,
    "_forager_synced_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
    "_forager_deleted" BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY ("id")
)
DISTSTYLE KEY
DISTKEY ("id")
COMPOUND SORTKEY ("at");

LOCK "analytics"."_forager_state", "analytics"."_forager_tables", "analytics"."orders";

CREATE TEMP TABLE "_forager_stage_0" (
    "id" INTEGER,
    "note" VARCHAR(65535),
    "amount" DECIMAL(12,4),
    "doc" SUPER,
    "blob" VARBYTE(1024000),
    "at" TIMESTAMPTZ,
    "tags" VARCHAR(65535),
    "_forager_lsn" BIGINT,
    "_forager_deleted" BOOLEAN,
    "_forager_action" CHAR(1),
    "_forager_unchanged" VARCHAR(65535),
    "_forager_empty" VARCHAR(65535),
    "_forager_from_0" INTEGER
);

COPY "_forager_stage_0" ("id", "note", "amount", "doc", "blob", "at", "tags", "_forager_lsn", "_forager_deleted", "_forager_action", "_forager_unchanged", "_forager_empty", "_forager_from_0")
FROM 's3://forager-staging/cdc/slot_a/1f-1/1.manifest'
ACCESS_KEY_ID '***' SECRET_ACCESS_KEY '***' SESSION_TOKEN '***'
MANIFEST FORMAT AS CSV GZIP NULL AS '<forager:null>'
TIMEFORMAT 'auto' DATEFORMAT 'auto' REGION 'us-east-1'
COMPUPDATE OFF STATUPDATE OFF;

COPY "_forager_stage_0" ("id", "note", "amount", "doc", "blob", "at", "tags", "_forager_lsn", "_forager_deleted", "_forager_action", "_forager_unchanged", "_forager_empty", "_forager_from_0")
FROM 's3://forager-staging/cdc/slot_a/1f-1/1.manifest'
IAM_ROLE 'arn:aws:iam::123456789012:role/forager-load'
MANIFEST FORMAT AS CSV GZIP NULL AS '<forager:null>'
TIMEFORMAT 'auto' DATEFORMAT 'auto'
COMPUPDATE OFF STATUPDATE OFF;

SELECT pg_last_copy_count();

UPDATE "_forager_stage_0" SET "blob" = CASE WHEN "_forager_empty" LIKE '%,4,%' THEN FROM_HEX('') ELSE "blob" END
WHERE "_forager_empty" IS NOT NULL;

SELECT COUNT(*) FROM "_forager_stage_0" AS "_forager_s"
WHERE "_forager_s"."_forager_unchanged" IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM "analytics"."orders" AS "_forager_t" WHERE "_forager_t"."id" = COALESCE("_forager_s"."_forager_from_0", "_forager_s"."id"));

UPDATE "_forager_stage_0" SET "note" = CASE WHEN "_forager_stage_0"."_forager_unchanged" LIKE '%,1,%' THEN "_forager_t"."note" ELSE "_forager_stage_0"."note" END,
    "doc" = CASE WHEN "_forager_stage_0"."_forager_unchanged" LIKE '%,3,%' THEN "_forager_t"."doc" ELSE "_forager_stage_0"."doc" END
FROM "analytics"."orders" AS "_forager_t"
WHERE "_forager_stage_0"."_forager_unchanged" IS NOT NULL AND "_forager_t"."id" = COALESCE("_forager_stage_0"."_forager_from_0", "_forager_stage_0"."id");

UPDATE "analytics"."orders" SET "_forager_deleted" = true, "_forager_lsn" = "_forager_s"."_forager_lsn", "_forager_synced_at" = SYSDATE
FROM "_forager_stage_0" AS "_forager_s"
WHERE "orders"."id" = "_forager_s"."id" AND "_forager_s"."_forager_action" = 'f';

DELETE FROM "analytics"."orders" USING "_forager_stage_0" AS "_forager_s"
WHERE "orders"."id" = "_forager_s"."id" AND "_forager_s"."_forager_action" IN ('u', 'd');

INSERT INTO "analytics"."orders" ("id", "note", "amount", "doc", "blob", "at", "tags", "_forager_lsn", "_forager_deleted", "_forager_synced_at")
SELECT "id", "note", "amount", "doc", "blob", "at", "tags", "_forager_lsn", "_forager_deleted", SYSDATE FROM "_forager_stage_0" WHERE "_forager_action" IN ('u', 'i');

INSERT INTO "analytics"."orders" ("id", "note", "amount", "doc", "blob", "at", "tags", "frames", "kind", "_forager_lsn", "_forager_deleted", "_forager_synced_at")
SELECT "id", "note", "amount", "doc", "blob", "at", "tags", CAST('10' AS INTEGER), CAST('hive' AS VARCHAR(65535)), "_forager_lsn", "_forager_deleted", SYSDATE FROM "_forager_stage_0" WHERE "_forager_action" IN ('u', 'i');

DROP TABLE "_forager_stage_0";

DELETE FROM "analytics"."orders";

DELETE FROM "analytics"."_forager_state" WHERE "slot" = 'slot_a';

INSERT INTO "analytics"."_forager_state" ("slot", "lsn", "updated_at") VALUES ('slot_a', 97500059720, GETDATE());

ALTER TABLE "analytics"."orders" ADD COLUMN "offset" VARCHAR(120);

ALTER TABLE "analytics"."orders" ADD COLUMN "rings" INTEGER;

UPDATE "analytics"."orders" SET "offset" = 'a''b', "rings" = '3';

ALTER TABLE "analytics"."orders" ALTER COLUMN "offset" TYPE VARCHAR(240);
