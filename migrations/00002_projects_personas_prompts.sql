-- +goose Up
-- Projects hold personas, corpora, members and data. Slugs are the stable, URL-safe names
-- that the demo loader and the CLI use.
CREATE TABLE projects (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- At least one letter: /projects/7 means the project with id 7, never a slug "7".
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$' AND slug ~ '[a-z]'),
    name          text NOT NULL CHECK (btrim(name) <> ''),
    description   text NOT NULL DEFAULT '',
    -- Blind ranking hides which model and prompt version wrote each candidate.
    blind_ranking boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE personas (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id      bigint NOT NULL REFERENCES projects (id),
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    kind            text NOT NULL CHECK (kind IN ('digital_human', 'domain_assistant')),
    name            text NOT NULL CHECK (btrim(name) <> ''),
    name_en         text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    description_en  text NOT NULL DEFAULT '',
    locale          text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
    avatar_color    text NOT NULL CHECK (avatar_color ~ '^#[0-9a-fA-F]{6}$'),
    avatar_initials text NOT NULL CHECK (char_length(avatar_initials) BETWEEN 1 AND 2),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, slug)
);

-- The dimensions trainers rate. Judgments store the key and the scale they rated on, so
-- editing a rubric never changes the meaning of ratings already given.
CREATE TABLE rubric_dimensions (
    persona_id bigint NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
    key        text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    axis       text NOT NULL CHECK (axis IN ('iq', 'eq')),
    label      text NOT NULL CHECK (btrim(label) <> ''),
    label_en   text NOT NULL CHECK (btrim(label_en) <> ''),
    guide      text NOT NULL DEFAULT '',
    guide_en   text NOT NULL DEFAULT '',
    scale_min  int NOT NULL,
    scale_max  int NOT NULL,
    position   int NOT NULL,
    PRIMARY KEY (persona_id, key),
    CHECK (scale_max > scale_min AND scale_max - scale_min <= 10)
);

-- Knowledge corpora. The retrieval work extends these with document versions, chunks and
-- embeddings; until then documents are searched by keyword.
CREATE TABLE corpora (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, slug)
);

CREATE TABLE documents (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    corpus_id  bigint NOT NULL REFERENCES corpora (id) ON DELETE CASCADE,
    slug       text NOT NULL CHECK (btrim(slug) <> ''),
    lang       text NOT NULL CHECK (lang IN ('zh-CN', 'en')),
    title      text NOT NULL CHECK (btrim(title) <> ''),
    body       text NOT NULL CHECK (btrim(body) <> ''),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (corpus_id, slug)
);

-- Prompt versions are immutable once published: every candidate reply points at exactly the
-- template and parameters that produced it. The triggers below make that a property of the
-- database, not of the code that happens to be running.
CREATE TABLE prompt_versions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    persona_id  bigint NOT NULL REFERENCES personas (id),
    version     int NOT NULL CHECK (version > 0),
    template    text NOT NULL CHECK (btrim(template) <> ''),
    model       text NOT NULL CHECK (btrim(model) <> ''),
    temperature real NOT NULL CHECK (temperature >= 0 AND temperature <= 2),
    top_p       real NOT NULL CHECK (top_p > 0 AND top_p <= 1),
    max_tokens  int NOT NULL CHECK (max_tokens > 0),
    retrieval_k int NOT NULL CHECK (retrieval_k BETWEEN 0 AND 50),
    change_note text NOT NULL DEFAULT '',
    author      text NOT NULL CHECK (btrim(author) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (persona_id, version)
);

CREATE TABLE prompt_version_corpora (
    prompt_version_id bigint NOT NULL REFERENCES prompt_versions (id),
    corpus_id         bigint NOT NULL REFERENCES corpora (id),
    PRIMARY KEY (prompt_version_id, corpus_id)
);

-- +goose StatementBegin
CREATE FUNCTION forbid_published_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable once published: publish a new version instead', TG_TABLE_NAME
        USING ERRCODE = 'MN001';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE OR DELETE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();
CREATE TRIGGER prompt_version_corpora_immutable BEFORE UPDATE OR DELETE ON prompt_version_corpora
    FOR EACH ROW EXECUTE FUNCTION forbid_published_change();

-- +goose Down
DROP TABLE prompt_version_corpora;
DROP TABLE prompt_versions;
DROP FUNCTION forbid_published_change();
DROP TABLE documents;
DROP TABLE corpora;
DROP TABLE rubric_dimensions;
DROP TABLE personas;
DROP TABLE projects;
