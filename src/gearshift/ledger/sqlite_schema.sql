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

CREATE INDEX ix_executions_chain ON executions (chain_id) WHERE chain_id IS NOT NULL;

CREATE INDEX ix_executions_run ON executions (run_id, task_key) WHERE run_id IS NOT NULL;

CREATE INDEX ix_executions_ts ON executions (ts_us);

CREATE INDEX ix_executions_dedup_group ON executions (dedup_group) WHERE dedup_group IS NOT NULL;

CREATE INDEX ix_executions_session ON executions (session, agent, source, cost_nanos);

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
