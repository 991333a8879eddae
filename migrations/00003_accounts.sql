-- +goose Up
-- People who use Mentor. login is an email or a username, stored lowercased.
CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login               text NOT NULL UNIQUE CHECK (login = lower(login) AND login ~ '^[a-z0-9][a-z0-9._@+-]{1,127}$'),
    display_name        text NOT NULL CHECK (btrim(display_name) <> ''),
    locale              text NOT NULL DEFAULT 'zh-CN' CHECK (locale IN ('zh-CN', 'en')),
    password_hash       text NOT NULL,
    is_admin            boolean NOT NULL DEFAULT false, -- instance admin: manages projects and users
    disabled_at         timestamptz,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Server-side sessions. The cookie holds a random secret; only its SHA-256 is stored, so a
-- copy of this table cannot be replayed as cookies.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL, -- absolute expiry; idle expiry is checked against last_seen_at
    ip           text NOT NULL DEFAULT '',
    user_agent   text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects (id),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL CHECK (role IN ('admin', 'reviewer', 'expert', 'trainer', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_id ON project_members (user_id);

-- API tokens for scripts. Shown once; only the SHA-256 of the (high-entropy) token is kept.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (btrim(name) <> ''),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL, -- the first characters, so a person can tell tokens apart
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'export', 'write'] AND cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

-- Failed sign-ins per account and per client address, for a growing delay.
CREATE TABLE sign_in_failures (
    key             text PRIMARY KEY, -- 'login:<login>' or 'ip:<address>'
    failures        int NOT NULL,
    last_failure_at timestamptz NOT NULL,
    locked_until    timestamptz NOT NULL
);

-- Who did what, when and from where. Append-only: users are disabled, never deleted, so the
-- references stay valid.
CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor_id   bigint REFERENCES users (id),
    actor      text NOT NULL DEFAULT '', -- the login at the time, kept if the user goes
    token_id   bigint REFERENCES api_tokens (id),
    action     text NOT NULL,
    project_id bigint REFERENCES projects (id),
    target     text NOT NULL DEFAULT '',
    ip         text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at DESC);
CREATE INDEX audit_events_project ON audit_events (project_id, at DESC);

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();

-- Generations per user per hour, against runaway cost; shared by every replica.
CREATE TABLE generation_usage (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour    timestamptz NOT NULL,
    count   int NOT NULL,
    PRIMARY KEY (user_id, hour)
);

-- +goose Down
DROP TABLE generation_usage;
DROP TABLE audit_events;
DROP TABLE sign_in_failures;
DROP TABLE api_tokens;
DROP TABLE project_members;
DROP TABLE sessions;
DROP TABLE users;
