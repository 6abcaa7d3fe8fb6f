-- Containers a user belongs to besides its home (D3's siteIds). Membership
-- only: it confers no privilege, and who manages the user still follows
-- the home container alone.
CREATE TABLE user_sites (
    user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    container_id uuid NOT NULL REFERENCES containers(id),
    PRIMARY KEY (user_id, container_id)
);
CREATE INDEX user_sites_container ON user_sites (container_id);
