-- Search configs recorded before the config had typed values held the CLI's strings: mergeParams and evalParams
-- as JSON text, gpus as "0,1", recipeBounds as "0,1.5". They become the values the config now holds, so old runs
-- display, compare and resume. A value that does not read as the new type is left as it was (a worker then fails
-- that run with the reason): nothing stored is dropped.
UPDATE "Run" SET "config" = jsonb_set("config", '{mergeParams}', ("config"->>'mergeParams')::jsonb)
WHERE jsonb_typeof("config"->'mergeParams') = 'string' AND ("config"->>'mergeParams') IS JSON OBJECT;

UPDATE "Run" SET "config" = jsonb_set("config", '{evalParams}', ("config"->>'evalParams')::jsonb)
WHERE jsonb_typeof("config"->'evalParams') = 'string' AND ("config"->>'evalParams') IS JSON OBJECT;

UPDATE "Run" SET "config" = jsonb_set("config", '{gpus}', to_jsonb(string_to_array("config"->>'gpus', ',')::integer[]))
WHERE jsonb_typeof("config"->'gpus') = 'string' AND "config"->>'gpus' ~ '^\d{1,9}(,\d{1,9})*$';

UPDATE "Run" SET "config" = jsonb_set("config", '{recipeBounds}', to_jsonb(string_to_array("config"->>'recipeBounds', ',')::double precision[]))
WHERE jsonb_typeof("config"->'recipeBounds') = 'string' AND "config"->>'recipeBounds' ~ '^-?\d+(\.\d+)?,-?\d+(\.\d+)?$';
