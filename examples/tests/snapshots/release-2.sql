-- tenant database of Council release 2 (Alembic 0002): + messages.tokens, messages.model, votes
-- written by `tenantfixtures snapshot` on 2026-12-01 10:16 UTC (SQLite 3.40.1, SQLAlchemy 2.1.9)
-- Freeze it with the release it describes; the migration checks replay it forever.

CREATE TABLE conversations (
	id INTEGER NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	created_by INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "conversations" ("id", "title", "created_by", "created_at") VALUES (1, 'Hiring plan', 7, '2025-05-03 10:00:00.000000');
INSERT INTO "conversations" ("id", "title", "created_by", "created_at") VALUES (2, 'Release notes', 9, '2025-05-20 14:30:00.000000');

CREATE TABLE messages (
	id INTEGER NOT NULL, 
	conversation_id INTEGER NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	content TEXT NOT NULL, 
	created_at DATETIME NOT NULL, tokens INTEGER DEFAULT '0' NOT NULL, model VARCHAR(120), 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES conversations (id)
);
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at", "tokens", "model") VALUES (1, 1, 'user', 'Who do we hire next?', '2025-05-03 10:00:02.000000', 0, NULL);
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at", "tokens", "model") VALUES (2, 1, 'assistant', 'A support engineer.', '2025-05-03 10:00:07.000000', 412, 'openai/gpt-4o');
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at", "tokens", "model") VALUES (3, 2, 'user', 'Summarise the changes.', '2025-05-20 14:30:01.000000', 0, NULL);

CREATE TABLE votes (
	id INTEGER NOT NULL, 
	conversation_id INTEGER NOT NULL, 
	voter_model VARCHAR(120) NOT NULL, 
	chosen_model VARCHAR(120) NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES conversations (id)
);
INSERT INTO "votes" ("id", "conversation_id", "voter_model", "chosen_model", "created_at") VALUES (1, 1, 'anthropic/claude-3.5-sonnet', 'openai/gpt-4o', '2025-05-03 10:00:09.000000');
INSERT INTO "votes" ("id", "conversation_id", "voter_model", "chosen_model", "created_at") VALUES (2, 1, 'google/gemini-pro-1.5', 'openai/gpt-4o', '2025-05-03 10:00:09.500000');

CREATE INDEX ix_messages_conversation_id ON messages (conversation_id);
CREATE INDEX ix_votes_conversation_id ON votes (conversation_id);
