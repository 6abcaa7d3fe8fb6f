-- Containers carry a free-text description (Aria scopes have one).
ALTER TABLE containers ADD COLUMN description TEXT NOT NULL DEFAULT '';
