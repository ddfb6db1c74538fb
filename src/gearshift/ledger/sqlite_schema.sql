-- The ledger's SQLite schema after every migration in gearshift.ledger.columns.MIGRATION_NAMES,
-- exactly as SQLAlchemy creates it (tests/ledger/test_sqlite3_ledger.py checks they stay identical).
-- gearshift.ledger.sqlite3_ledger uses it to create a new SQLite ledger without importing SQLAlchemy.
CREATE TABLE gearshift_migrations (
	name VARCHAR(100) NOT NULL,
	applied_at VARCHAR(40) NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE executions (
	id VARCHAR(26) NOT NULL,
	ts_us BIGINT NOT NULL,
	project VARCHAR(500) NOT NULL,
	session VARCHAR(200) NOT NULL,
	agent VARCHAR(200) NOT NULL,
	task TEXT,
	task_hash VARCHAR(32),
	task_type VARCHAR(100),
	model VARCHAR(200) NOT NULL,
	tier VARCHAR(20) NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	cache_write_5m_tokens BIGINT NOT NULL,
	cache_write_1h_tokens BIGINT NOT NULL,
	cache_read_tokens BIGINT NOT NULL,
	cost_nanos BIGINT NOT NULL,
	price_version VARCHAR(100) NOT NULL,
	latency_ms BIGINT,
	status VARCHAR(20) NOT NULL,
	attempt INTEGER NOT NULL,
	chain_id VARCHAR(64),
	strategy VARCHAR(50),
	source VARCHAR(30) NOT NULL,
	validation TEXT,
	escalation_reason TEXT,
	run_id VARCHAR(64),
	task_key VARCHAR(200),
	flags SMALLINT NOT NULL,
	tags TEXT NOT NULL,
	dedup_key VARCHAR(200),
	dedup_group INTEGER,
	PRIMARY KEY (id),
	CONSTRAINT ck_executions_dedup_group CHECK (dedup_key IS NULL OR dedup_group IS NOT NULL)
);

CREATE INDEX ix_executions_session ON executions (session, agent, source, cost_nanos);

CREATE INDEX ix_executions_run ON executions (run_id, task_key) WHERE run_id IS NOT NULL;

CREATE INDEX ix_executions_dedup_group ON executions (dedup_group) WHERE dedup_group IS NOT NULL;

CREATE INDEX ix_executions_chain ON executions (chain_id) WHERE chain_id IS NOT NULL;

CREATE INDEX ix_executions_ts ON executions (ts_us);

CREATE TABLE ingest_files (
	path TEXT NOT NULL,
	source VARCHAR(30) NOT NULL,
	device BIGINT NOT NULL,
	inode BIGINT NOT NULL,
	size BIGINT NOT NULL,
	mtime_ns BIGINT NOT NULL,
	"offset" BIGINT NOT NULL,
	lines BIGINT NOT NULL,
	fingerprint VARCHAR(64) NOT NULL,
	updated_at VARCHAR(40) NOT NULL,
	PRIMARY KEY (path)
);

CREATE TABLE budgets (
	name VARCHAR(100) NOT NULL,
	scope VARCHAR(20) NOT NULL,
	value VARCHAR(500) NOT NULL,
	period VARCHAR(20) NOT NULL,
	amount_nanos BIGINT NOT NULL,
	action VARCHAR(20) NOT NULL,
	start_date VARCHAR(10),
	end_date VARCHAR(10),
	alert_levels TEXT,
	tz VARCHAR(64),
	updated_at VARCHAR(40) NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE budget_locks (
	name VARCHAR(100) NOT NULL,
	PRIMARY KEY (name)
);

CREATE TABLE budget_reservations (
	id VARCHAR(26) NOT NULL,
	budget VARCHAR(100) NOT NULL,
	amount_nanos BIGINT NOT NULL,
	created_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL,
	PRIMARY KEY (id, budget)
);

CREATE INDEX ix_budget_reservations_budget ON budget_reservations (budget, expires_us);

CREATE TABLE alerts_sent (
	budget VARCHAR(100) NOT NULL,
	period_start VARCHAR(40) NOT NULL,
	level VARCHAR(20) NOT NULL,
	sent_at VARCHAR(40) NOT NULL,
	PRIMARY KEY (budget, period_start, level)
);

CREATE TABLE run_jobs (
	run_id VARCHAR(64) NOT NULL,
	job_id VARCHAR(200) NOT NULL,
	status VARCHAR(20) NOT NULL,
	output TEXT,
	cost_nanos BIGINT NOT NULL,
	tier_path VARCHAR(100) NOT NULL,
	finished_at VARCHAR(40) NOT NULL,
	progress TEXT,
	PRIMARY KEY (run_id, job_id)
);

CREATE TABLE response_cache (
	"key" VARCHAR(64) NOT NULL,
	model VARCHAR(200) NOT NULL,
	text TEXT NOT NULL,
	usage TEXT NOT NULL,
	created_us BIGINT NOT NULL,
	expires_us BIGINT NOT NULL,
	PRIMARY KEY ("key")
);

CREATE TABLE ingest_agents (
	kind VARCHAR(10) NOT NULL,
	ref VARCHAR(200) NOT NULL,
	value VARCHAR(200) NOT NULL,
	PRIMARY KEY (kind, ref)
);

CREATE TABLE reconciliation_runs (
	run_id VARCHAR(26) NOT NULL,
	created_at VARCHAR(40) NOT NULL,
	provider VARCHAR(30) NOT NULL,
	since_day VARCHAR(10) NOT NULL,
	last_day VARCHAR(10) NOT NULL,
	grouping VARCHAR(20) NOT NULL,
	tolerance_pct VARCHAR(20) NOT NULL,
	tolerance_usd VARCHAR(20) NOT NULL,
	row_count INTEGER NOT NULL,
	beyond_count INTEGER NOT NULL,
	ledger_nanos BIGINT NOT NULL,
	bill_nanos BIGINT NOT NULL,
	price_version VARCHAR(100) NOT NULL,
	PRIMARY KEY (run_id)
);

CREATE TABLE reconciliation_rows (
	run_id VARCHAR(26) NOT NULL,
	group_key VARCHAR(700) NOT NULL,
	day VARCHAR(10),
	model VARCHAR(200),
	workspace VARCHAR(200),
	api_key VARCHAR(200),
	ledger_tokens BIGINT NOT NULL,
	bill_tokens BIGINT NOT NULL,
	ledger_nanos BIGINT NOT NULL,
	bill_nanos BIGINT NOT NULL,
	bill_token_nanos BIGINT NOT NULL,
	catalog_nanos BIGINT,
	within_tolerance SMALLINT NOT NULL,
	prices TEXT NOT NULL,
	reasons TEXT NOT NULL,
	PRIMARY KEY (run_id, group_key)
);

CREATE INDEX ix_reconciliation_rows_day ON reconciliation_rows (day, model);

CREATE TABLE learn_outcomes (
	id VARCHAR(26) NOT NULL,
	ts_us BIGINT NOT NULL,
	import_id VARCHAR(64) NOT NULL,
	line INTEGER NOT NULL,
	task TEXT NOT NULL,
	agent VARCHAR(200),
	task_type VARCHAR(100),
	model VARCHAR(200),
	tier VARCHAR(20) NOT NULL,
	score FLOAT NOT NULL,
	cost_nanos BIGINT,
	input_tokens BIGINT,
	output_tokens BIGINT,
	PRIMARY KEY (id)
);

CREATE INDEX ix_learn_outcomes_import ON learn_outcomes (import_id);

CREATE INDEX ix_learn_outcomes_ts ON learn_outcomes (ts_us);

CREATE TABLE learned_models (
	id VARCHAR(26) NOT NULL,
	created_us BIGINT NOT NULL,
	format_version INTEGER NOT NULL,
	meta TEXT NOT NULL,
	digest VARCHAR(64) NOT NULL,
	blob BLOB NOT NULL,
	PRIMARY KEY (id)
);

CREATE TABLE proxy_routes (
	"key" VARCHAR(64) NOT NULL,
	model VARCHAR(200) NOT NULL,
	tier VARCHAR(20) NOT NULL,
	policy VARCHAR(50) NOT NULL,
	reason TEXT NOT NULL,
	since_message INTEGER NOT NULL,
	created_us BIGINT NOT NULL,
	PRIMARY KEY ("key")
);

CREATE INDEX ix_proxy_routes_created ON proxy_routes (created_us);

CREATE TABLE runs (
	run_id VARCHAR(64) NOT NULL,
	pipeline TEXT NOT NULL,
	options TEXT NOT NULL,
	created_at VARCHAR(40) NOT NULL,
	updated_at VARCHAR(40) NOT NULL,
	PRIMARY KEY (run_id)
);

CREATE TABLE spend_rollup_day (
	shift BIGINT NOT NULL,
	day BIGINT NOT NULL,
	tier VARCHAR(20) NOT NULL,
	agent VARCHAR(200) NOT NULL,
	model VARCHAR(200) NOT NULL,
	project VARCHAR(500) NOT NULL,
	source VARCHAR(30) NOT NULL,
	executions BIGINT NOT NULL,
	first_attempts BIGINT NOT NULL,
	successes BIGINT NOT NULL,
	failures BIGINT NOT NULL,
	errors BIGINT NOT NULL,
	blocked BIGINT NOT NULL,
	escalations BIGINT NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	cache_write_5m_tokens BIGINT NOT NULL,
	cache_write_1h_tokens BIGINT NOT NULL,
	cache_read_tokens BIGINT NOT NULL,
	cost_nanos BIGINT NOT NULL,
	latency_ms BIGINT NOT NULL,
	latencies BIGINT NOT NULL,
	PRIMARY KEY (shift, day, tier, agent, model, project, source)
)
 WITHOUT ROWID

;

CREATE TABLE spend_rollup_quarter (
	quarter BIGINT NOT NULL,
	bucket BIGINT NOT NULL,
	tier VARCHAR(20) NOT NULL,
	agent VARCHAR(200) NOT NULL,
	model VARCHAR(200) NOT NULL,
	project VARCHAR(500) NOT NULL,
	source VARCHAR(30) NOT NULL,
	executions BIGINT NOT NULL,
	first_attempts BIGINT NOT NULL,
	successes BIGINT NOT NULL,
	failures BIGINT NOT NULL,
	errors BIGINT NOT NULL,
	blocked BIGINT NOT NULL,
	escalations BIGINT NOT NULL,
	input_tokens BIGINT NOT NULL,
	output_tokens BIGINT NOT NULL,
	cache_write_5m_tokens BIGINT NOT NULL,
	cache_write_1h_tokens BIGINT NOT NULL,
	cache_read_tokens BIGINT NOT NULL,
	cost_nanos BIGINT NOT NULL,
	latency_ms BIGINT NOT NULL,
	latencies BIGINT NOT NULL,
	PRIMARY KEY (quarter, bucket, tier, agent, model, project, source)
)
 WITHOUT ROWID

;

CREATE TRIGGER tr_spend_rollup_delete AFTER DELETE ON executions
BEGIN
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 0 AND day = (OLD.ts_us + 0 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 0 AND day = (OLD.ts_us + 0 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 6 AND day = (OLD.ts_us + 6 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 6 AND day = (OLD.ts_us + 6 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 12 AND day = (OLD.ts_us + 12 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 12 AND day = (OLD.ts_us + 12 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 18 AND day = (OLD.ts_us + 18 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 18 AND day = (OLD.ts_us + 18 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_quarter SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE quarter = OLD.ts_us / 900000000 - OLD.ts_us / 86400000000 * 96 AND bucket = OLD.ts_us / 900000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_quarter WHERE quarter = OLD.ts_us / 900000000 - OLD.ts_us / 86400000000 * 96 AND bucket = OLD.ts_us / 900000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
END;

CREATE TRIGGER tr_spend_rollup_update AFTER UPDATE OF ts_us, attempt, status, escalation_reason, latency_ms, tier, agent, model, project, source, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos ON executions
BEGIN
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 0 AND day = (OLD.ts_us + 0 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 0 AND day = (OLD.ts_us + 0 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 6 AND day = (OLD.ts_us + 6 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 6 AND day = (OLD.ts_us + 6 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 12 AND day = (OLD.ts_us + 12 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 12 AND day = (OLD.ts_us + 12 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_day SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE shift = 18 AND day = (OLD.ts_us + 18 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_day WHERE shift = 18 AND day = (OLD.ts_us + 18 * 3600000000) / 86400000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  UPDATE spend_rollup_quarter SET executions = executions - (1), first_attempts = first_attempts - (CASE WHEN OLD.attempt = 1 THEN 1 ELSE 0 END), successes = successes - (CASE WHEN OLD.status = 'success' THEN 1 ELSE 0 END), failures = failures - (CASE WHEN OLD.status = 'failure' THEN 1 ELSE 0 END), errors = errors - (CASE WHEN OLD.status = 'error' THEN 1 ELSE 0 END), blocked = blocked - (CASE WHEN OLD.status = 'blocked' THEN 1 ELSE 0 END), escalations = escalations - (CASE WHEN OLD.escalation_reason IS NOT NULL THEN 1 ELSE 0 END), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens), cache_write_5m_tokens = cache_write_5m_tokens - (OLD.cache_write_5m_tokens), cache_write_1h_tokens = cache_write_1h_tokens - (OLD.cache_write_1h_tokens), cache_read_tokens = cache_read_tokens - (OLD.cache_read_tokens), cost_nanos = cost_nanos - (OLD.cost_nanos), latency_ms = latency_ms - (COALESCE(OLD.latency_ms, 0)), latencies = latencies - (CASE WHEN OLD.latency_ms IS NOT NULL THEN 1 ELSE 0 END) WHERE quarter = OLD.ts_us / 900000000 - OLD.ts_us / 86400000000 * 96 AND bucket = OLD.ts_us / 900000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source;
  DELETE FROM spend_rollup_quarter WHERE quarter = OLD.ts_us / 900000000 - OLD.ts_us / 86400000000 * 96 AND bucket = OLD.ts_us / 900000000 AND tier = OLD.tier AND agent = OLD.agent AND model = OLD.model AND project = OLD.project AND source = OLD.source AND executions = 0;
  INSERT INTO spend_rollup_day (shift, day, tier, agent, model, project, source, executions, first_attempts, successes, failures, errors, blocked, escalations, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, latency_ms, latencies) VALUES (0, (NEW.ts_us + 0 * 3600000000) / 86400000000, NEW.tier, NEW.agent, NEW.model, NEW.project, NEW.source, 1, CASE WHEN NEW.attempt = 1 THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'success' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'failure' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'error' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'blocked' THEN 1 ELSE 0 END, CASE WHEN NEW.escalation_reason IS NOT NULL THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m_tokens, NEW.cache_write_1h_tokens, NEW.cache_read_tokens, NEW.cost_nanos, COALESCE(NEW.latency_ms, 0), CASE WHEN NEW.latency_ms IS NOT NULL THEN 1 ELSE 0 END) ON CONFLICT (shift, day, tier, agent, model, project, source) DO UPDATE SET executions = spend_rollup_day.executions + excluded.executions, first_attempts = spend_rollup_day.first_attempts + excluded.first_attempts, successes = spend_rollup_day.successes + excluded.successes, failures = spend_rollup_day.failures + excluded.failures, errors = spend_rollup_day.errors + excluded.errors, blocked = spend_rollup_day.blocked + excluded.blocked, escalations = spend_rollup_day.escalations + excluded.escalations, input_tokens = spend_rollup_day.input_tokens + excluded.input_tokens, output_tokens = spend_rollup_day.output_tokens + excluded.output_tokens, cache_write_5m_tokens = spend_rollup_day.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = spend_rollup_day.cache_write_1h_tokens + excluded.cache_write_1h_tokens, cache_read_tokens = spend_rollup_day.cache_read_tokens + excluded.cache_read_tokens, cost_nanos = spend_rollup_day.cost_nanos + excluded.cost_nanos, latency_ms = spend_rollup_day.latency_ms + excluded.latency_ms, latencies = spend_rollup_day.latencies + excluded.latencies;
  INSERT INTO spend_rollup_day (shift, day, tier, agent, model, project, source, executions, first_attempts, successes, failures, errors, blocked, escalations, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, latency_ms, latencies) VALUES (6, (NEW.ts_us + 6 * 3600000000) / 86400000000, NEW.tier, NEW.agent, NEW.model, NEW.project, NEW.source, 1, CASE WHEN NEW.attempt = 1 THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'success' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'failure' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'error' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'blocked' THEN 1 ELSE 0 END, CASE WHEN NEW.escalation_reason IS NOT NULL THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m_tokens, NEW.cache_write_1h_tokens, NEW.cache_read_tokens, NEW.cost_nanos, COALESCE(NEW.latency_ms, 0), CASE WHEN NEW.latency_ms IS NOT NULL THEN 1 ELSE 0 END) ON CONFLICT (shift, day, tier, agent, model, project, source) DO UPDATE SET executions = spend_rollup_day.executions + excluded.executions, first_attempts = spend_rollup_day.first_attempts + excluded.first_attempts, successes = spend_rollup_day.successes + excluded.successes, failures = spend_rollup_day.failures + excluded.failures, errors = spend_rollup_day.errors + excluded.errors, blocked = spend_rollup_day.blocked + excluded.blocked, escalations = spend_rollup_day.escalations + excluded.escalations, input_tokens = spend_rollup_day.input_tokens + excluded.input_tokens, output_tokens = spend_rollup_day.output_tokens + excluded.output_tokens, cache_write_5m_tokens = spend_rollup_day.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = spend_rollup_day.cache_write_1h_tokens + excluded.cache_write_1h_tokens, cache_read_tokens = spend_rollup_day.cache_read_tokens + excluded.cache_read_tokens, cost_nanos = spend_rollup_day.cost_nanos + excluded.cost_nanos, latency_ms = spend_rollup_day.latency_ms + excluded.latency_ms, latencies = spend_rollup_day.latencies + excluded.latencies;
  INSERT INTO spend_rollup_day (shift, day, tier, agent, model, project, source, executions, first_attempts, successes, failures, errors, blocked, escalations, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, latency_ms, latencies) VALUES (12, (NEW.ts_us + 12 * 3600000000) / 86400000000, NEW.tier, NEW.agent, NEW.model, NEW.project, NEW.source, 1, CASE WHEN NEW.attempt = 1 THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'success' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'failure' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'error' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'blocked' THEN 1 ELSE 0 END, CASE WHEN NEW.escalation_reason IS NOT NULL THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m_tokens, NEW.cache_write_1h_tokens, NEW.cache_read_tokens, NEW.cost_nanos, COALESCE(NEW.latency_ms, 0), CASE WHEN NEW.latency_ms IS NOT NULL THEN 1 ELSE 0 END) ON CONFLICT (shift, day, tier, agent, model, project, source) DO UPDATE SET executions = spend_rollup_day.executions + excluded.executions, first_attempts = spend_rollup_day.first_attempts + excluded.first_attempts, successes = spend_rollup_day.successes + excluded.successes, failures = spend_rollup_day.failures + excluded.failures, errors = spend_rollup_day.errors + excluded.errors, blocked = spend_rollup_day.blocked + excluded.blocked, escalations = spend_rollup_day.escalations + excluded.escalations, input_tokens = spend_rollup_day.input_tokens + excluded.input_tokens, output_tokens = spend_rollup_day.output_tokens + excluded.output_tokens, cache_write_5m_tokens = spend_rollup_day.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = spend_rollup_day.cache_write_1h_tokens + excluded.cache_write_1h_tokens, cache_read_tokens = spend_rollup_day.cache_read_tokens + excluded.cache_read_tokens, cost_nanos = spend_rollup_day.cost_nanos + excluded.cost_nanos, latency_ms = spend_rollup_day.latency_ms + excluded.latency_ms, latencies = spend_rollup_day.latencies + excluded.latencies;
  INSERT INTO spend_rollup_day (shift, day, tier, agent, model, project, source, executions, first_attempts, successes, failures, errors, blocked, escalations, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, latency_ms, latencies) VALUES (18, (NEW.ts_us + 18 * 3600000000) / 86400000000, NEW.tier, NEW.agent, NEW.model, NEW.project, NEW.source, 1, CASE WHEN NEW.attempt = 1 THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'success' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'failure' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'error' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'blocked' THEN 1 ELSE 0 END, CASE WHEN NEW.escalation_reason IS NOT NULL THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m_tokens, NEW.cache_write_1h_tokens, NEW.cache_read_tokens, NEW.cost_nanos, COALESCE(NEW.latency_ms, 0), CASE WHEN NEW.latency_ms IS NOT NULL THEN 1 ELSE 0 END) ON CONFLICT (shift, day, tier, agent, model, project, source) DO UPDATE SET executions = spend_rollup_day.executions + excluded.executions, first_attempts = spend_rollup_day.first_attempts + excluded.first_attempts, successes = spend_rollup_day.successes + excluded.successes, failures = spend_rollup_day.failures + excluded.failures, errors = spend_rollup_day.errors + excluded.errors, blocked = spend_rollup_day.blocked + excluded.blocked, escalations = spend_rollup_day.escalations + excluded.escalations, input_tokens = spend_rollup_day.input_tokens + excluded.input_tokens, output_tokens = spend_rollup_day.output_tokens + excluded.output_tokens, cache_write_5m_tokens = spend_rollup_day.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = spend_rollup_day.cache_write_1h_tokens + excluded.cache_write_1h_tokens, cache_read_tokens = spend_rollup_day.cache_read_tokens + excluded.cache_read_tokens, cost_nanos = spend_rollup_day.cost_nanos + excluded.cost_nanos, latency_ms = spend_rollup_day.latency_ms + excluded.latency_ms, latencies = spend_rollup_day.latencies + excluded.latencies;
  INSERT INTO spend_rollup_quarter (quarter, bucket, tier, agent, model, project, source, executions, first_attempts, successes, failures, errors, blocked, escalations, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_nanos, latency_ms, latencies) VALUES (NEW.ts_us / 900000000 - NEW.ts_us / 86400000000 * 96, NEW.ts_us / 900000000, NEW.tier, NEW.agent, NEW.model, NEW.project, NEW.source, 1, CASE WHEN NEW.attempt = 1 THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'success' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'failure' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'error' THEN 1 ELSE 0 END, CASE WHEN NEW.status = 'blocked' THEN 1 ELSE 0 END, CASE WHEN NEW.escalation_reason IS NOT NULL THEN 1 ELSE 0 END, NEW.input_tokens, NEW.output_tokens, NEW.cache_write_5m_tokens, NEW.cache_write_1h_tokens, NEW.cache_read_tokens, NEW.cost_nanos, COALESCE(NEW.latency_ms, 0), CASE WHEN NEW.latency_ms IS NOT NULL THEN 1 ELSE 0 END) ON CONFLICT (quarter, bucket, tier, agent, model, project, source) DO UPDATE SET executions = spend_rollup_quarter.executions + excluded.executions, first_attempts = spend_rollup_quarter.first_attempts + excluded.first_attempts, successes = spend_rollup_quarter.successes + excluded.successes, failures = spend_rollup_quarter.failures + excluded.failures, errors = spend_rollup_quarter.errors + excluded.errors, blocked = spend_rollup_quarter.blocked + excluded.blocked, escalations = spend_rollup_quarter.escalations + excluded.escalations, input_tokens = spend_rollup_quarter.input_tokens + excluded.input_tokens, output_tokens = spend_rollup_quarter.output_tokens + excluded.output_tokens, cache_write_5m_tokens = spend_rollup_quarter.cache_write_5m_tokens + excluded.cache_write_5m_tokens, cache_write_1h_tokens = spend_rollup_quarter.cache_write_1h_tokens + excluded.cache_write_1h_tokens, cache_read_tokens = spend_rollup_quarter.cache_read_tokens + excluded.cache_read_tokens, cost_nanos = spend_rollup_quarter.cost_nanos + excluded.cost_nanos, latency_ms = spend_rollup_quarter.latency_ms + excluded.latency_ms, latencies = spend_rollup_quarter.latencies + excluded.latencies;
END;
