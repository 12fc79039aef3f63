"""The database: engine and sessions, the models of every area, migrations, the node lock."""
