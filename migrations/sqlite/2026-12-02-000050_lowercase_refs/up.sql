-- Refs are written lower-cased whole, as Backstage's stringifyEntityRef does (name included).
UPDATE relations SET target_ref = lower(target_ref) WHERE target_ref <> lower(target_ref);
