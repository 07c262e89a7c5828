-- tenant database of Council release 1 (Alembic 0001): conversations, messages
-- written by `tenantfixtures snapshot` on 2026-12-01 10:16 UTC (SQLite 3.40.1, SQLAlchemy 2.1.9)
-- Freeze it with the release it describes; the migration checks replay it forever.

CREATE TABLE conversations (
	id INTEGER NOT NULL, 
	title VARCHAR(200) NOT NULL, 
	created_by INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "conversations" ("id", "title", "created_by", "created_at") VALUES (1, 'Quarterly planning', 7, '2025-01-14 09:12:00.000000');
INSERT INTO "conversations" ("id", "title", "created_by", "created_at") VALUES (2, 'Pricing page copy', 8, '2025-02-02 16:40:00.000000');

CREATE TABLE messages (
	id INTEGER NOT NULL, 
	conversation_id INTEGER NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	content TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES conversations (id)
);
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at") VALUES (1, 1, 'user', 'What should we ship first?', '2025-01-14 09:12:05.000000');
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at") VALUES (2, 1, 'assistant', 'Start with the export feature.', '2025-01-14 09:12:09.000000');
INSERT INTO "messages" ("id", "conversation_id", "role", "content", "created_at") VALUES (3, 2, 'user', 'Shorter, please.', '2025-02-02 16:41:00.000000');

CREATE INDEX ix_messages_conversation_id ON messages (conversation_id);
