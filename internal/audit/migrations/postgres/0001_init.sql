-- Audit events, hash-chained.
CREATE TABLE audit_events (
	id            BIGINT      PRIMARY KEY,
	event_time    TIMESTAMPTZ NOT NULL,
	action        TEXT        NOT NULL,
	outcome       TEXT        NOT NULL,
	reason        TEXT        NOT NULL DEFAULT '',
	user_id       TEXT        NOT NULL DEFAULT '',
	username      TEXT        NOT NULL DEFAULT '',
	login_id      TEXT        NOT NULL DEFAULT '',
	method        TEXT        NOT NULL DEFAULT '',
	client_ip     TEXT        NOT NULL DEFAULT '',
	request_id    TEXT        NOT NULL DEFAULT '',
	route         TEXT        NOT NULL DEFAULT '',
	rpc           TEXT        NOT NULL DEFAULT '',
	resources     TEXT        NOT NULL DEFAULT '{}',
	status        INTEGER     NOT NULL DEFAULT 0,
	mlflow_denied BOOLEAN     NOT NULL DEFAULT FALSE,
	latency_ns    BIGINT      NOT NULL DEFAULT 0,
	details       TEXT        NOT NULL DEFAULT '{}',
	prev_hash     TEXT        NOT NULL,
	hash          TEXT        NOT NULL
);

CREATE INDEX audit_events_time_idx ON audit_events (event_time);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- The chain head (last record) and the prune anchor (last deleted record).
-- Exactly one row; appends lock it with SELECT ... FOR UPDATE, which
-- serializes writers across gateway replicas.
CREATE TABLE audit_chain (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	last_id     BIGINT NOT NULL,
	last_hash   TEXT   NOT NULL,
	anchor_id   BIGINT NOT NULL,
	anchor_hash TEXT   NOT NULL
);

INSERT INTO audit_chain (id, last_id, last_hash, anchor_id, anchor_hash) VALUES
	(1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
	    0, '0000000000000000000000000000000000000000000000000000000000000000');
