-- +goose Up
-- Campaigns, continued (issue 13). A base's share quota is a share of all k × items
-- judgments, checked at every claim; counting a campaign's items there read up to a million
-- index entries per claim. Each campaign now keeps its item count, kept by statement-level
-- triggers (one call per import statement, whichever code inserts: the importer, items made
-- from turns, a benchmark's bulk load), so a claim reads it from the campaign's row.
ALTER TABLE campaigns ADD COLUMN items int NOT NULL DEFAULT 0 CHECK (items >= 0);
UPDATE campaigns c SET items = (SELECT count(*) FROM campaign_items i WHERE i.campaign_id = c.id);

-- +goose StatementBegin
CREATE FUNCTION campaign_items_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaigns c SET items = c.items + n.added
        FROM (SELECT campaign_id, count(*)::int AS added FROM added_items GROUP BY campaign_id) n
        WHERE c.id = n.campaign_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION campaign_items_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE campaigns c SET items = c.items - n.removed
        FROM (SELECT campaign_id, count(*)::int AS removed FROM removed_items GROUP BY campaign_id) n
        WHERE c.id = n.campaign_id;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER campaign_items_added AFTER INSERT ON campaign_items
    REFERENCING NEW TABLE AS added_items
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_items_added();
CREATE TRIGGER campaign_items_removed AFTER DELETE ON campaign_items
    REFERENCING OLD TABLE AS removed_items
    FOR EACH STATEMENT EXECUTE FUNCTION campaign_items_removed();

-- +goose Down
DROP TRIGGER campaign_items_removed ON campaign_items;
DROP TRIGGER campaign_items_added ON campaign_items;
DROP FUNCTION campaign_items_removed();
DROP FUNCTION campaign_items_added();
ALTER TABLE campaigns DROP COLUMN items;
