-- A channel's window fallback: the approved template (JSON `{template, language, parameter}`)
-- a free-form text goes as when the person's 24-hour window is closed. Off (NULL) by default.
ALTER TABLE channels ADD COLUMN window_fallback TEXT;
