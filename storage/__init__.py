"""Storage: models, repositories, the unit of work, migrations and the file store."""
