-- +goose Up
-- A conversation with one persona. Its messages form a tree: siblings are the alternatives a
-- trainer saw (candidates, corrections, gold replies), and any message can be continued.
CREATE TABLE conversations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id),
    persona_id bigint NOT NULL REFERENCES personas (id),
    created_by bigint NOT NULL REFERENCES users (id),
    locale     text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_persona ON conversations (persona_id, created_at DESC);

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    parent_id       bigint REFERENCES messages (id), -- null for the first user turn
    role            text NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    author          text NOT NULL CHECK (author IN ('human', 'model')),
    author_id       bigint REFERENCES users (id), -- the person, for human messages
    content         text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((author = 'human') = (author_id IS NOT NULL))
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE INDEX messages_parent ON messages (parent_id);

-- A turn is one user message and the candidates generated for it.
CREATE TABLE turns (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id),
    user_message_id bigint NOT NULL UNIQUE REFERENCES messages (id),
    created_by      bigint NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A candidate is a model-written assistant message plus everything needed to reproduce it.
-- Its content lives in its message and is flushed while it streams.
CREATE TABLE candidates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    turn_id            bigint NOT NULL REFERENCES turns (id),
    message_id         bigint NOT NULL UNIQUE REFERENCES messages (id),
    position           int NOT NULL CHECK (position BETWEEN 1 AND 8),
    model              text NOT NULL,
    endpoint           text NOT NULL,
    baseline           boolean NOT NULL,
    prompt_version_id  bigint NOT NULL REFERENCES prompt_versions (id),
    temperature        real NOT NULL,
    top_p              real NOT NULL,
    max_tokens         int NOT NULL,
    seed               bigint NOT NULL,
    system_prompt_hash text NOT NULL,
    passage_ids        bigint[] NOT NULL DEFAULT '{}', -- document ids, in citation order
    reasoning          text NOT NULL DEFAULT '',
    status             text NOT NULL CHECK (status IN ('streaming', 'complete', 'cancelled', 'failed', 'interrupted')),
    finish_reason      text NOT NULL DEFAULT '',
    error              text NOT NULL DEFAULT '',
    prompt_tokens      int NOT NULL DEFAULT 0,
    completion_tokens  int NOT NULL DEFAULT 0,
    ttft_ms            int,
    duration_ms        int,
    attempts           int NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (turn_id, position)
);
-- Streaming candidates are few; this finds them at start-up, to mark those a crash left.
CREATE INDEX candidates_streaming ON candidates (id) WHERE status = 'streaming';

-- +goose Down
DROP TABLE candidates;
DROP TABLE turns;
DROP TABLE messages;
DROP TABLE conversations;
