-- The access rule (docs/ACCESS_MODEL.md).

-- Bumped by every password or second-factor change: tokens carry the epoch
-- they were issued in, and older ones are refused on every node.
ALTER TABLE users ADD COLUMN credential_epoch INTEGER NOT NULL DEFAULT 0;

-- The most a key may ever do, fixed when it is minted (JSON array of
-- privilege names; NULL: no cap beyond its role restriction). A key minted
-- by a restricted credential keeps that credential's restriction.
ALTER TABLE api_keys ADD COLUMN privileges TEXT;

-- Failed password checks per account and source (`*`: the account across
-- every source). Keyed by the name tried, whether or not it exists, so the
-- throttle tells nothing about which accounts exist.
CREATE TABLE login_throttle (
    account_key TEXT NOT NULL,
    source TEXT NOT NULL,
    failures INTEGER NOT NULL,
    blocked_until INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_key, source)
) WITHOUT ROWID;
CREATE INDEX login_throttle_updated ON login_throttle (updated_at);
