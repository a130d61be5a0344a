-- Files shared in the chat (spec 001's file messages): the message names
-- the file, which lives elsewhere. NULL for a text message. Existing rows
-- are text messages: nothing to rebuild.
ALTER TABLE rm_chat_messages ADD COLUMN file_url TEXT;
ALTER TABLE rm_chat_messages ADD COLUMN file_name TEXT;
ALTER TABLE rm_chat_messages ADD COLUMN file_type TEXT;
ALTER TABLE rm_chat_messages ADD COLUMN file_size BIGINT;
