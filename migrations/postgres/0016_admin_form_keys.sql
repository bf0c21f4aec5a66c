-- The key of the web form that made an admin change: one form makes one change, so the same
-- form sent again (a reload of the page a POST answered) finds its entry and changes nothing.
ALTER TABLE admin_log ADD COLUMN form_key TEXT;
CREATE UNIQUE INDEX admin_log_form_key ON admin_log (user_id, form_key);
