-- A model version records the feature service (and its version) it was
-- trained on, so serving can fetch exactly those features.

ALTER TABLE model_versions ADD COLUMN feature_service TEXT NOT NULL DEFAULT '';
ALTER TABLE model_versions ADD COLUMN feature_service_version BIGINT NOT NULL DEFAULT 0;
