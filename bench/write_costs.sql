-- What PostgreSQL spends on the matcher's two writes of every stored event, measured inside the
-- server (no client, no network): claiming event ids in processed_events, and upserting a
-- person's profile. docs/scaling.md, "Time-ordered event ids, a plain claim, and profiles
-- stored as written", quotes its figures.
--
-- Run it against the benchmark's database after a backlog drain (its profiles are the input):
--   BRIDGEWORK_REFERENCE_DATA=../shared/data PYTHONPATH=. bash devtools/with-infra.sh sh -c \
--     '.venv/bin/python -m bench.bench_pipeline --repeats 1 --no-warm-up --skip limit \
--        broker_limit ingest backlog_two latency latency_on_arrival \
--        latency_on_arrival_rounds_apart sustained notifier soak --out /tmp/drain.json &&
--      psql -h 127.0.0.1 -p 55432 -U bridgework -At -f bench/write_costs.sql bench_backlog_1'
-- It works in a schema of its own (wc), dropped at the end.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET search_path = wc, public;
DROP SCHEMA IF EXISTS wc CASCADE;
CREATE SCHEMA wc;

-- A version 7 id (RFC 9562) as the services make them: the time in ms, then random bits.
CREATE FUNCTION wc.uuid7ish(i int) RETURNS uuid LANGUAGE sql AS $$
  SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
          || substr(md5(random()::text || i), 1, 19))::uuid $$;

-- Claims: 800 batches of 500 ids, timed around the insert alone.
CREATE FUNCTION wc.claims(ordered bool, on_conflict bool) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; total interval := '0'; ids uuid[];
BEGIN
  CREATE TABLE wc.claimed (consumer text NOT NULL, event_id uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (consumer, event_id));
  FOR i IN 1..800 LOOP
    IF ordered THEN ids := ARRAY(SELECT wc.uuid7ish(g) FROM generate_series(1, 500) g);
    ELSE ids := ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 500)); END IF;
    t0 := clock_timestamp();
    IF on_conflict THEN
      INSERT INTO wc.claimed (consumer, event_id) SELECT 'bridgework-matcher', unnest(ids)
        ON CONFLICT DO NOTHING;
    ELSE
      INSERT INTO wc.claimed (consumer, event_id) SELECT 'bridgework-matcher', unnest(ids);
    END IF;
    total := total + (clock_timestamp() - t0);
  END LOOP;
  DROP TABLE wc.claimed;
  RETURN round((extract(epoch FROM total) * 1e6 / 400000)::numeric, 2) || ' us a claim';
END $$;

-- Profiles: the matcher's upsert of 100,000 of the benchmark's profiles, 250 a statement (a
-- batch of 500 events is 250 arrivals), into a fresh copy of its people table with the profile
-- as jsonb or json; then the same again over the rows now there (updates).
CREATE TABLE wc.source AS
  SELECT row_number() OVER () AS n, gen_random_uuid() AS id, role, network_id,
    profile::text AS profile, capacity, hours_per_month, profile->>'trust_code' AS trust_code
  FROM matcher.people LIMIT 100000;

CREATE FUNCTION wc.profiles(kind text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; inserts interval := '0'; updates interval := '0'; ids uuid[];
  roles text[]; nets text[]; profs text[]; caps float8[]; hrs float8[]; trusts text[];
  rows int := (SELECT count(*) FROM wc.source);
BEGIN
  CREATE TABLE wc.people (LIKE matcher.people INCLUDING ALL);
  EXECUTE format('ALTER TABLE wc.people ALTER COLUMN profile TYPE %s USING profile::%s', kind, kind);
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = 'wc' AND table_name = 'people' AND column_name = 'trust_code') THEN
    ALTER TABLE wc.people ADD COLUMN trust_code text;
  END IF;
  FOR pass IN 1..2 LOOP
    FOR b IN 0..(rows - 1) / 250 LOOP
      SELECT array_agg(id ORDER BY n), array_agg(role ORDER BY n), array_agg(network_id ORDER BY n),
        array_agg(profile ORDER BY n), array_agg(capacity ORDER BY n),
        array_agg(hours_per_month ORDER BY n), array_agg(trust_code ORDER BY n)
      INTO ids, roles, nets, profs, caps, hrs, trusts
      FROM wc.source WHERE n > b * 250 AND n <= (b + 1) * 250;
      t0 := clock_timestamp();
      EXECUTE format($q$
        WITH incoming AS (
          SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::float8[],
                               $6::float8[], $7::text[])
            AS p(id, role, network_id, profile, capacity, hours_per_month, trust_code)
        ), previous AS (
          SELECT id, network_id, paused FROM wc.people WHERE id = ANY($1::uuid[])
        ), stored AS (
          INSERT INTO wc.people (id, role, network_id, profile, capacity, hours_per_month,
                                 paused, trust_code)
          SELECT i.id, i.role, i.network_id, i.profile::%s, i.capacity, i.hours_per_month,
                 COALESCE(previous.paused, false), i.trust_code
          FROM incoming i LEFT JOIN previous ON previous.id = i.id
          ON CONFLICT (id) DO UPDATE SET role = excluded.role, network_id = excluded.network_id,
            profile = excluded.profile, capacity = excluded.capacity,
            hours_per_month = excluded.hours_per_month, paused = excluded.paused,
            trust_code = excluded.trust_code
        )
        SELECT count(*) FROM previous$q$, kind) USING ids, roles, nets, profs, caps, hrs, trusts;
      IF pass = 1 THEN inserts := inserts + (clock_timestamp() - t0);
      ELSE updates := updates + (clock_timestamp() - t0); END IF;
    END LOOP;
  END LOOP;
  DROP TABLE wc.people;
  RETURN round((extract(epoch FROM inserts) * 1e6 / rows)::numeric, 2) || ' us a new profile, '
      || round((extract(epoch FROM updates) * 1e6 / rows)::numeric, 2) || ' us an update';
END $$;

SELECT 'claims, random ids, ON CONFLICT', wc.claims(false, true);
SELECT 'claims, random ids, plain insert', wc.claims(false, false);
SELECT 'claims, time-ordered ids, ON CONFLICT', wc.claims(true, true);
SELECT 'claims, time-ordered ids, plain insert', wc.claims(true, false);
SELECT 'profiles as jsonb', wc.profiles('jsonb');
SELECT 'profiles as json', wc.profiles('json');
SELECT 'profiles as jsonb', wc.profiles('jsonb');
SELECT 'profiles as json', wc.profiles('json');
SELECT 'profiles as jsonb', wc.profiles('jsonb');
SELECT 'profiles as json', wc.profiles('json');
DROP SCHEMA wc CASCADE;
